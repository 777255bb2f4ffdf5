package recipecmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/recipe/lint"
	"coopcloud.tech/abra/internal/ui"
)

type releaseOptions struct {
	f    *command.Factory
	name string
	opts recipe.ReleaseOptions
	json bool
	bump bumpFlags
	// step is the bump -x/-y/-z chose, BumpNone without them.
	step recipe.Bump
}

func newReleaseCmd(f *command.Factory, runF func(context.Context, *releaseOptions) error) *cobra.Command {
	o := &releaseOptions{f: f}
	cmd := &cobra.Command{
		Use:     "release <recipe> [version] [--dry-run] [--publish] [--note <text>]",
		Aliases: []string{"rl"},
		Short:   "Publish a new version of a recipe: lint, release notes, commit, annotated tag",
		Long: `Release the recipe's work tree as [version], or as the version its label holds
(written by 'abra recipe sync'):

  1. lint the recipe; a critical failure refuses the release
  2. set the version label of compose.yml, if it differs
  3. release notes: release/next becomes release/<version>; without it, --note
     is written there; without either the release has no notes (a warning)
  4. commit every change of the work tree
  5. create the annotated tag <version>, its message the release notes
  6. with --publish, push the branch and the tag to origin

A version that is already tagged, or not newer than the latest release, is
refused before anything changes. --dry-run checks and lints, prints the plan and
changes nothing.

-x, -y or -z (abra's) release the next major, minor or patch version of the
latest release, whatever the label says.`,
		Example: "  abra recipe release wordpress --dry-run\n" +
			"  abra recipe release wordpress --publish\n" +
			"  abra recipe release wordpress 1.2.0+6.5.0 --note 'Upgrade to WordPress 6.5.0.'",
		Args: command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if len(args) == 2 {
				o.opts.Version = args[1]
			}
			var err error
			if o.step, err = o.bump.bump(o.opts.Version); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runRelease(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.opts.DryRun, "dry-run", "r", false, "print the plan and change nothing")
	cmd.Flags().BoolVarP(&o.opts.Publish, "publish", "p", false, "push the branch and the tag to origin")
	// -P was our shorthand before abra's -p was adopted; kept working, hidden.
	cmd.Flags().BoolVarP(&o.opts.Publish, "publish-P", "P", false, "")
	_ = cmd.Flags().MarkHidden("publish-P")
	_ = cmd.Flags().MarkShorthandDeprecated("publish-P", "use -p/--publish")
	o.bump.add(cmd)
	cmd.Flags().StringVar(&o.opts.Note, "note", "", "release notes, when there is no release/next")
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runRelease(ctx context.Context, o *releaseOptions) error {
	if o.opts.Publish && o.f.Offline {
		return hint.With(fmt.Errorf("recipe release %s: --publish pushes to origin and --offline is set", o.name),
			"drop --offline, or release locally without --publish and push later")
	}
	repo, err := o.f.Store().OpenRecipe(o.name)
	if err != nil {
		return err
	}
	if o.step != recipe.BumpNone {
		if o.opts.Version, err = repo.BumpedVersion(o.step); err != nil {
			return fmt.Errorf("recipe release %s: %w", o.name, err)
		}
	}
	o.opts.Lint = func(ctx context.Context, dir string) error { return releaseLint(ctx, o.name, repo, dir) }
	o.opts.Observer = &ui.Steps{W: o.f.IO.Err, JSON: o.json, Color: o.f.IO.Color()}
	plan, err := repo.Release(ctx, o.opts)
	for _, w := range plan.Warnings {
		fmt.Fprintf(o.f.IO.Err, "warning: %s\n", w)
	}
	if err != nil {
		return fmt.Errorf("recipe release %s: %w", o.name, err)
	}
	if o.json {
		return ui.JSON(o.f.IO, plan)
	}
	if o.opts.DryRun {
		fmt.Fprintf(o.f.IO.Err, "recipe %s: release %s (dry run, nothing changed):\n", o.name, plan.Version)
		for i, s := range plan.Steps {
			fmt.Fprintf(o.f.IO.Out, "%d. %s\n", i+1, s)
		}
		return nil
	}
	fmt.Fprintf(o.f.IO.Err, "recipe %s: released %s\n", o.name, plan.Version)
	if !o.opts.Publish {
		fmt.Fprintf(o.f.IO.Err, "next: push it with 'git -C %s push origin --follow-tags', or release with --publish\n", repo.Dir())
	}
	fmt.Fprintln(o.f.IO.Out, plan.Version)
	return nil
}

// releaseLint refuses critical lint failures of the work tree, except
// R106 (the label matches the latest release): the label names the version
// being released, which is not tagged yet.
func releaseLint(ctx context.Context, name string, repo *recipe.Repo, dir string) error {
	rep, err := lint.Run(ctx, dir, repo)
	if err != nil {
		return err
	}
	var critical []lint.Finding
	for _, f := range rep.CriticalFailures() {
		if f.ID != "R106" {
			critical = append(critical, f)
		}
	}
	if len(critical) == 0 {
		return nil
	}
	remedies := make([]string, len(critical))
	for i, f := range critical {
		remedies[i] = f.ID + ": " + f.Detail + "; " + f.HowToResolve
	}
	return hint.With(fmt.Errorf("critical lint rules failed: %s", strings.Join(lint.IDs(critical), ", ")),
		strings.Join(remedies, "\n      ")+"\n      (details: 'abra recipe lint "+name+" --chaos')")
}
