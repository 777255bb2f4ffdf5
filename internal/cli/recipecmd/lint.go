package recipecmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe/lint"
	"coopcloud.tech/abra/internal/ui"
)

type lintOptions struct {
	f     *command.Factory
	name  string
	json  bool
	chaos bool
}

// lintView is one rule's outcome in `abra recipe lint --json`.
type lintView struct {
	ID           string `json:"id"`
	Severity     string `json:"severity"`
	Status       string `json:"status"` // pass, fail or skip
	Description  string `json:"description"`
	Detail       string `json:"detail"`
	HowToResolve string `json:"how_to_resolve"`
}

func newLintCmd(f *command.Factory, runF func(context.Context, *lintOptions) error) *cobra.Command {
	o := &lintOptions{f: f}
	cmd := &cobra.Command{
		Use:     "lint <recipe> [--json] [--chaos]",
		Aliases: []string{"l"},
		Short:   "Check a recipe against Co-op Cloud's packaging rules",
		Long: "Check a recipe's last commit (or, with --chaos, its work tree) against the lint rules.\n\n" +
			"Compose files are loaded with .env.sample, the exports of abra.sh, DOMAIN=" + lint.PlaceholderDomain +
			" and STACK_NAME=" + lint.PlaceholderStackName + ".\n" +
			"The command fails when a critical rule fails: such a recipe does not deploy, or misbehaves.",
		Example: "  abra recipe lint wordpress\n" +
			"  abra recipe lint wordpress --chaos --json",
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runLint(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	cmd.Flags().BoolVarP(&o.chaos, "chaos", "C", false, "lint the work tree as it is, uncommitted changes included")
	return cmd
}

func runLint(ctx context.Context, o *lintOptions) error {
	repo, err := o.f.Store().OpenRecipe(o.name)
	if err != nil {
		return err
	}
	dir := repo.Dir()
	if !o.chaos {
		// Lint what a deploy would take: committed files, read from git
		// objects, so the clone is never switched.
		_, dirty, err := repo.Head()
		if err != nil {
			return hint.With(fmt.Errorf("recipe %s: %w", o.name, err), "commit the recipe's files, or lint the work tree with --chaos")
		}
		tmp, err := os.MkdirTemp("", "abra-lint-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, o.name)
		if err := repo.Export(ctx, "HEAD", dir); err != nil {
			return fmt.Errorf("recipe %s: %w", o.name, err)
		}
		if dirty {
			fmt.Fprintf(o.f.IO.Err, "recipe %s has uncommitted changes; linting its last commit (pass --chaos to lint the work tree)\n", o.name)
		}
	}
	rep, err := lint.Run(ctx, dir, repo)
	if err != nil {
		return fmt.Errorf("recipe %s: %w", o.name, err)
	}
	if err := renderLint(o, rep); err != nil {
		return err
	}
	fmt.Fprintln(o.f.IO.Err, lintSummary(o.name, rep))

	critical := rep.CriticalFailures()
	if len(critical) == 0 {
		return nil
	}
	ids := lint.IDs(critical)
	remedies := make([]string, len(critical))
	for i, f := range critical {
		remedies[i] = f.ID + ": " + f.HowToResolve
	}
	return hint.With(fmt.Errorf("recipe %s: critical lint rules failed: %s", o.name, strings.Join(ids, ", ")),
		strings.Join(remedies, "\n      "))
}

func renderLint(o *lintOptions, rep lint.Report) error {
	views := make([]lintView, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		views = append(views, lintView{
			ID:           f.ID,
			Severity:     string(f.Severity),
			Status:       string(f.Status),
			Description:  f.Description,
			Detail:       f.Detail,
			HowToResolve: f.HowToResolve,
		})
	}
	if o.json {
		return ui.JSON(o.f.IO, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{v.ID, v.Severity, statusMark(v.Status), v.Description, v.Detail})
	}
	return ui.Table(o.f.IO, []string{"rule", "severity", "result", "description", "detail"}, rows)
}

func statusMark(s string) string {
	switch lint.Status(s) {
	case lint.Pass:
		return "✓"
	case lint.Fail:
		return "✗"
	}
	return "-"
}

// lintSummary is the one line on stderr after the table.
func lintSummary(name string, rep lint.Report) string {
	var passed, skipped int
	for _, f := range rep.Findings {
		switch f.Status {
		case lint.Pass:
			passed++
		case lint.Skip:
			skipped++
		}
	}
	failed := rep.Failures()
	s := fmt.Sprintf("recipe %s: %d rules, %d passed, %d failed", name, len(rep.Findings), passed, len(failed))
	if c := rep.CriticalFailures(); len(c) > 0 {
		s += fmt.Sprintf(" (%d critical: %s)", len(c), strings.Join(lint.IDs(c), ", "))
	}
	if skipped > 0 {
		s += fmt.Sprintf(", %d skipped", skipped)
	}
	return s
}
