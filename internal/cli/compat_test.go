package cli

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

// compatRow is one row of docs/compatibility.md's table.
type compatRow struct {
	line          int
	command, form string
	status        string
}

func readCompatTable(t *testing.T) []compatRow {
	t.Helper()
	f, err := os.Open("../../docs/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []compatRow
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case strings.Contains(l, "compat-table:start"):
			in = true
			continue
		case strings.Contains(l, "compat-table:end"):
			in = false
		}
		if !in || !strings.HasPrefix(l, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		if len(cells) < 4 {
			t.Fatalf("compatibility.md:%d: want | command | abra's form | ours | status | note |", n)
		}
		unquote := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
		rows = append(rows, compatRow{line: n, command: unquote(cells[0]), form: unquote(cells[1]), status: strings.TrimSpace(cells[3])})
	}
	if len(rows) < 50 {
		t.Fatalf("compatibility.md: %d rows; the table markers or format changed", len(rows))
	}
	return rows
}

var flagForm = regexp.MustCompile(`^(?:-([a-zA-Z])/)?--([a-z][a-z0-9-]*)$`)

// resolves reports whether the row's form is accepted by the command tree,
// and why not.
func resolves(root *cobra.Command, r compatRow) (bool, string) {
	path := strings.Fields(r.command)[1:]
	cmd, rest, err := root.Find(path)
	if err != nil || len(rest) > 0 || cmd.CommandPath() != r.command {
		return false, "command does not resolve"
	}
	switch {
	case r.form == "cmd":
		return true, ""
	case strings.HasPrefix(r.form, "alias "):
		alias := strings.TrimPrefix(r.form, "alias ")
		if !slices.Contains(cmd.Aliases, alias) {
			return false, "no alias " + alias + " (has " + strings.Join(cmd.Aliases, ", ") + ")"
		}
		viaAlias, _, err := root.Find(append(path[:len(path)-1:len(path)-1], alias))
		if err != nil || viaAlias != cmd {
			return false, "alias " + alias + " resolves elsewhere"
		}
		return true, ""
	}
	m := flagForm.FindStringSubmatch(r.form)
	if m == nil {
		return false, "unknown form syntax"
	}
	var fl *pflag.Flag
	for _, fs := range []*pflag.FlagSet{cmd.Flags(), cmd.InheritedFlags(), cmd.PersistentFlags()} {
		if fl = fs.Lookup(m[2]); fl != nil {
			break
		}
	}
	if m[2] == "help" && fl == nil { // cobra adds --help when the command runs
		cmd.InitDefaultHelpFlag()
		fl = cmd.Flags().Lookup("help")
	}
	if fl == nil {
		return false, "no flag --" + m[2]
	}
	if fl.Shorthand != m[1] {
		return false, "--" + m[2] + " has shorthand " + strings.TrimSpace("-"+fl.Shorthand) + ", not -" + m[1]
	}
	return true, ""
}

// TestCompatibilityTable keeps docs/compatibility.md true: every form that is
// not "missing" is accepted, every "missing" one is not.
func TestCompatibilityTable(t *testing.T) {
	root := NewRootCmd(command.NewFactory(ui.IO{}))
	for _, r := range readCompatTable(t) {
		ok, why := resolves(root, r)
		switch r.status {
		case "same", "alias", "differs":
			if !ok {
				t.Errorf("compatibility.md:%d: %s %s is %q but %s", r.line, r.command, r.form, r.status, why)
			}
		case "missing":
			if ok {
				t.Errorf("compatibility.md:%d: %s %s is accepted now: update its status", r.line, r.command, r.form)
			}
		default:
			t.Errorf("compatibility.md:%d: status %q: want same, alias, differs or missing", r.line, r.status)
		}
	}
}
