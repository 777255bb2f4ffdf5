// Package completion drives the real abra binary's bash completion through
// a real bash: the script of 'abra autocomplete bash' is sourced and its
// completion function called as bash calls it on a tab press. Completion
// reads only $ABRA_DIR, so these tests need no Docker and no server and run
// with every 'go test ./...', without the ABRA_E2E gate of package e2e.
package completion

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"coopcloud.tech/abra/e2e/internal/abrabin"
)

var abraBin string

func TestMain(m *testing.M) {
	os.Exit(abrabin.Main(m.Run, &abraBin))
}

// bashCompletion is Debian's bash-completion package, which most operators'
// shells load; the script must work with and without it.
const bashCompletion = "/usr/share/bash-completion/bash_completion"

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// abraDir is an ABRA_DIR with three apps on two servers and a recipe "web"
// with two releases; its servers are hosts nobody could reach.
func abraDir(t *testing.T) string {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "servers", "default", "blog.example.org.env"), "TYPE=web\n")
	write(t, filepath.Join(dir, "servers", "default", "wiki.example.org.env"), "TYPE=web:1.0.0+1.25\n")
	write(t, filepath.Join(dir, "servers", "unreachable.invalid", "chat.example.org.env"), "TYPE=web\n")
	repo := filepath.Join(dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), "version: \"3.8\"\nservices:\n  app:\n    image: nginx:1.25\n  db:\n    image: postgres:16\n")
	git(t, repo, "init", "-q", "-b", "main")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-qm", "web")
	git(t, repo, "tag", "-a", "1.0.0+1.25", "-m", "1.0.0+1.25")
	git(t, repo, "commit", "-q", "--allow-empty", "-m", "next")
	git(t, repo, "tag", "-a", "1.1.0+1.25", "-m", "1.1.0+1.25")
	return dir
}

// tab presses tab after line (which ends where the cursor is) in a bash
// that sourced 'abra autocomplete bash', with or without bash-completion
// loaded first, and returns COMPREPLY: what bash offers.
func tab(t *testing.T, dir, line string, withPackage bool) []string {
	t.Helper()
	words := strings.Fields(line)
	if strings.HasSuffix(line, " ") {
		words = append(words, "")
	}
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + w + "'"
	}
	prev := ""
	if len(words) > 1 {
		prev = words[len(words)-2]
	}
	var script strings.Builder
	if withPackage {
		fmt.Fprintf(&script, "source %s\n", bashCompletion)
	}
	fmt.Fprintf(&script, `source <(abra autocomplete bash) || exit 9
COMP_WORDS=(%s)
COMP_CWORD=%d
COMP_LINE='%s'
COMP_POINT=${#COMP_LINE}
COMP_TYPE=9
compopt() { :; } # a builtin that works only while bash itself runs a completion
__start_abra abra '%s' '%s'
printf '%%s\n' "${COMPREPLY[@]}"
`, strings.Join(quoted, " "), len(words)-1, line, words[len(words)-1], prev)
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", script.String())
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(abraBin)+":"+os.Getenv("PATH"), "ABRA_DIR="+dir,
		"HOME="+t.TempDir(), "COLUMNS=200")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bash: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("tab after %q: stderr %q", line, stderr.String())
	}
	var out []string
	for l := range strings.SplitSeq(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// names strips the descriptions bash shows after a candidate ("blog.example.org  (default)").
func names(comps []string) []string {
	out := make([]string, len(comps))
	for i, c := range comps {
		out[i] = strings.Fields(c)[0]
	}
	return out
}

func TestBashCompletion(t *testing.T) {
	dir := abraDir(t)
	tests := []struct {
		line string
		want []string
	}{
		{line: "abra app deploy ", want: []string{"blog.example.org", "wiki.example.org", "chat.example.org"}},
		{line: "abra app deploy w", want: []string{"wiki.example.org"}},
		{line: "abra app deploy blog.example.org ", want: []string{"1.1.0+1.25", "1.0.0+1.25"}},
		{line: "abra app logs chat.example.org ", want: []string{"app", "db"}},
		{line: "abra app new web --server ", want: []string{"default", "unreachable.invalid"}},
		{line: "abra app new ", want: []string{"web"}},
		{line: "abra ap", want: []string{"app"}},
		{line: "abra autocomplete ", want: []string{"bash", "zsh", "fish", "powershell"}},
		{line: "abra app deploy nope.example.org ", want: nil},
	}
	for _, withPackage := range []bool{false, true} {
		name := "without bash-completion"
		if withPackage {
			name = "with bash-completion"
		}
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat(bashCompletion); withPackage && err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s: %v (scripts/test.sh installs bash-completion)", bashCompletion, err)
				}
				t.Skipf("%s: %v (apt-get install bash-completion)", bashCompletion, err)
			}
			for _, tt := range tests {
				got := names(tab(t, dir, tt.line, withPackage))
				if !slices.Equal(got, tt.want) {
					t.Errorf("tab after %q: got %q, want %q", tt.line, got, tt.want)
				}
			}
		})
	}
}
