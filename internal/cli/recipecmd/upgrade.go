package recipecmd

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/registry"
	"coopcloud.tech/abra/internal/ui"
)

type upgradeOptions struct {
	f        *command.Factory
	registry recipe.TagLister
	name     string
	patch    bool
	minor    bool
	major    bool
	allTags  bool
	json     bool
}

func newUpgradeCmd(f *command.Factory, runF func(context.Context, *upgradeOptions) error) *cobra.Command {
	o := &upgradeOptions{f: f}
	cmd := &cobra.Command{
		Use:     "upgrade <recipe> [--patch|--minor|--major] [--all-tags] [--json]",
		Aliases: []string{"u"},
		Short:   "Move the recipe's images to newer tags from their registries",
		Long: `For every service's image, list the registry's tags that are newer than the
current one and have its shape (1.2-alpine → 1.3-alpine, not 1.3 or
1.3-alpine3.19), and rewrite the image: lines of compose.yml and its
compose.*.yml overlays, keeping their comments and formatting.

On a terminal you pick a tag per image. --patch, --minor or --major pick the
newest tag within that step for every image instead. Without a terminal, or
with -n, and no policy flag, --minor is used: it never crosses a major version,
where upstreams put their breaking changes.

Images interpolated from the environment (${IMAGE}:1.2) or pinned by digest are
listed and left alone. --json prints the plan (candidates and picks) and
changes nothing. Registry credentials come from ~/.docker/config.json
($DOCKER_CONFIG). Then run 'abra recipe sync <recipe>' to compute the version.`,
		Example: "  abra recipe upgrade wordpress\n" +
			"  abra recipe upgrade wordpress --minor -n\n" +
			"  abra recipe upgrade wordpress --json --all-tags",
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if o.registry == nil {
				o.registry = registry.New()
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runUpgrade(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.patch, "patch", "z", false, "pick the newest patch tag (1.2.0 → 1.2.3)")
	cmd.Flags().BoolVarP(&o.minor, "minor", "y", false, "pick the newest minor or patch tag (1.2.0 → 1.4.1)")
	cmd.Flags().BoolVarP(&o.major, "major", "x", false, "pick the newest tag of the same shape (1.2.0 → 3.0.0)")
	cmd.Flags().BoolVarP(&o.allTags, "all-tags", "a", false, "also offer tags of another shape (never picked by a policy)")
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

// policy is the step the flags allow; BumpNone when none was given.
func (o *upgradeOptions) policy() (recipe.Bump, error) {
	var set []string
	p := recipe.BumpNone
	for _, f := range []struct {
		on   bool
		name string
		bump recipe.Bump
	}{{o.patch, "--patch", recipe.BumpPatch}, {o.minor, "--minor", recipe.BumpMinor}, {o.major, "--major", recipe.BumpMajor}} {
		if f.on {
			set = append(set, f.name)
			p = f.bump
		}
	}
	if len(set) > 1 {
		return p, command.Usagef("recipe upgrade: %s exclude each other; pass one", strings.Join(set, " and "))
	}
	return p, nil
}

func runUpgrade(ctx context.Context, o *upgradeOptions) error {
	policy, err := o.policy()
	if err != nil {
		return err
	}
	if o.f.Offline {
		return hint.With(fmt.Errorf("recipe upgrade %s: the image registries are needed and --offline is set", o.name),
			"drop --offline")
	}
	repo, err := o.f.Store().OpenRecipe(o.name)
	if err != nil {
		return err
	}
	interactive := !o.json && !o.f.NoInput && o.f.IO.Interactive()
	if policy == recipe.BumpNone && !interactive {
		policy = recipe.BumpMinor
		if !o.json {
			fmt.Fprintln(o.f.IO.Err, "no --patch, --minor or --major: picking by --minor (never across a major version)")
		}
	}
	plan, err := recipe.PlanUpgrade(ctx, repo.Dir(), o.registry, recipe.UpgradeOptions{Policy: policy, AllTags: o.allTags})
	if err != nil {
		err = fmt.Errorf("recipe upgrade %s: %w", o.name, err)
		if hint.Of(err) == "" {
			err = hint.With(err, "check that the registry is reachable; credentials come from 'docker login' (~/.docker/config.json)")
		}
		return err
	}
	if o.json {
		return ui.JSON(o.f.IO, plan)
	}
	if policy == recipe.BumpNone {
		if err := o.ask(plan); err != nil {
			return err
		}
	}
	if err := renderUpgrade(o.f.IO, plan); err != nil {
		return err
	}
	changes, err := recipe.ApplyUpgrade(repo.Dir(), plan)
	if err != nil {
		return fmt.Errorf("recipe upgrade %s: %w", o.name, err)
	}
	for _, u := range plan {
		if u.Skip != "" {
			fmt.Fprintf(o.f.IO.Err, "%s: service %s: %s is %s; left alone\n", u.File, u.Service, u.Ref, u.Skip)
		}
	}
	if len(changes) == 0 {
		fmt.Fprintf(o.f.IO.Err, "recipe %s: no image to upgrade\n", o.name)
		return nil
	}
	for _, c := range changes {
		fmt.Fprintf(o.f.IO.Err, "%s: service %s: %s → %s\n", c.File, c.Service, c.From, c.To)
	}
	fmt.Fprintf(o.f.IO.Err, "recipe %s: %d image tags upgraded\nnext: 'abra recipe sync %s' computes the new version\n", o.name, len(changes), o.name)
	return nil
}

// ask lets the operator pick a tag for every image that has candidates.
func (o *upgradeOptions) ask(plan []recipe.ImageUpgrade) error {
	for i := range plan {
		u := &plan[i]
		if len(u.Candidates) == 0 {
			continue
		}
		tags := make([]string, len(u.Candidates))
		for j, c := range u.Candidates {
			tags[j] = c.Tag
			fmt.Fprintf(o.f.IO.Err, "  %-20s %s\n", c.Tag, c.Bump)
		}
		for {
			answer, err := o.f.Ask(fmt.Sprintf("%s: service %s runs %s; new tag (or 'keep')", u.File, u.Service, u.Ref), "--patch, --minor or --major")
			if err != nil {
				return err
			}
			if answer == "keep" || answer == u.Tag {
				break
			}
			if slices.Contains(tags, answer) {
				u.Pick = answer
				break
			}
			fmt.Fprintf(o.f.IO.Err, "%q is not one of the tags above\n", answer)
		}
	}
	return nil
}

func renderUpgrade(io ui.IO, plan []recipe.ImageUpgrade) error {
	rows := [][]string{}
	for _, u := range plan {
		if u.Skip != "" {
			continue
		}
		to := u.Pick
		if to == "" {
			to = "-"
		}
		var newer []string
		for _, c := range u.Candidates {
			newer = append(newer, c.Tag)
		}
		rows = append(rows, []string{u.File, u.Service, u.Image, u.Tag, to, strings.Join(newer, " ")})
	}
	return ui.Table(io, []string{"file", "service", "image", "tag", "new tag", "newer tags"}, rows)
}
