package recipecmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/ui"
)

type syncOptions struct {
	f       *command.Factory
	name    string
	version string
	json    bool
	bump    bumpFlags
	// step is the bump -x/-y/-z chose, BumpNone without them.
	step recipe.Bump
}

func newSyncCmd(f *command.Factory, runF func(context.Context, *syncOptions) error) *cobra.Command {
	o := &syncOptions{f: f}
	cmd := &cobra.Command{
		Use:     "sync <recipe> [version] [--json]",
		Aliases: []string{"s"},
		Short:   "Compute the recipe's next version and write it into its version label",
		Long: `Compare the recipe's work tree with its latest release and write the next
version into the coop-cloud.${STACK_NAME}.version label of the main service
("app", or the first service of compose.yml). Nothing is committed: review
with 'abra recipe diff', publish with 'abra recipe release'.

The rule, for <recipe>.<minor>.<patch>+<upstream>:
  - every image tag that changed is a patch, minor or major step, by the first
    of its numbers that changed (1.2.0 → 1.2.1 patch, → 1.3.0 minor, → 2.0.0
    major); a tag of another shape, or another image, is a major step;
  - the recipe part steps by the largest of those steps;
  - when only other files changed (.env.sample, abra.sh, compose settings) it
    is a patch;
  - the upstream part is the main service's image tag;
  - release notes (release/) and the version label itself do not count;
  - a recipe's first release is 0.1.0+<upstream>.
[version] skips the computation; it must be newer than the latest release.
-x, -y or -z (abra's) take the next major, minor or patch version of the
latest release instead, whatever changed.`,
		Example: "  abra recipe sync wordpress\n" +
			"  abra recipe sync wordpress 2.0.0+6.5.0",
		Args: command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if len(args) == 2 {
				o.version = args[1]
			}
			var err error
			if o.step, err = o.bump.bump(o.version); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runSync(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	o.bump.add(cmd)
	return cmd
}

func runSync(_ context.Context, o *syncOptions) error {
	repo, err := o.f.Store().OpenRecipe(o.name)
	if err != nil {
		return err
	}
	version := o.version
	if o.step != recipe.BumpNone {
		if version, err = repo.BumpedVersion(o.step); err != nil {
			return fmt.Errorf("recipe sync %s: %w", o.name, err)
		}
	}
	res, err := repo.Sync(version)
	if err != nil {
		return fmt.Errorf("recipe sync %s: %w", o.name, err)
	}
	if o.json {
		return ui.JSON(o.f.IO, res)
	}
	for _, i := range res.Changes.Images {
		fmt.Fprintf(o.f.IO.Err, "%s: service %s: %s → %s (%s)\n", i.File, i.Service, i.From, i.To, i.Bump)
	}
	for _, f := range res.Changes.Files {
		fmt.Fprintf(o.f.IO.Err, "changed: %s\n", f)
	}
	switch {
	case res.Previous == "":
		fmt.Fprintf(o.f.IO.Err, "recipe %s: first release\n", o.name)
	case o.step != recipe.BumpNone:
		fmt.Fprintf(o.f.IO.Err, "recipe %s: %s → %s (%s, as asked)\n", o.name, res.Previous, res.Version, o.step)
	case o.version != "":
		fmt.Fprintf(o.f.IO.Err, "recipe %s: %s → %s (given)\n", o.name, res.Previous, res.Version)
	default:
		fmt.Fprintf(o.f.IO.Err, "recipe %s: %s → %s (%s)\n", o.name, res.Previous, res.Version, res.Bump)
	}
	fmt.Fprintf(o.f.IO.Err, "wrote %s=%s into compose.yml\nnext: 'abra recipe release %s'\n", recipe.VersionLabel, res.Version, o.name)
	fmt.Fprintln(o.f.IO.Out, res.Version)
	return nil
}
