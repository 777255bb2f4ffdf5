package recipecmd

import (
	"context"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/ui"
)

type versionsOptions struct {
	f    *command.Factory
	name string
	json bool
}

type versionView struct {
	Version   string                `json:"version"`
	Commit    string                `json:"commit"`
	Annotated bool                  `json:"annotated"`
	Services  []recipe.ServiceImage `json:"services"`
}

func newVersionsCmd(f *command.Factory, runF func(context.Context, *versionsOptions) error) *cobra.Command {
	o := &versionsOptions{f: f}
	cmd := &cobra.Command{
		Use:     "versions <recipe>",
		Aliases: []string{"v"},
		Short:   "List a recipe's published versions (its x.y.z+upstream tags)",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runVersions(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runVersions(_ context.Context, o *versionsOptions) error {
	repo, err := o.f.Store().OpenRecipe(o.name)
	if err != nil {
		return err
	}
	rels, err := repo.Versions()
	if err != nil {
		return err
	}
	views := []versionView{}
	for _, r := range rels {
		images, err := repo.Images(r.Tag)
		if err != nil {
			return err
		}
		if images == nil {
			images = []recipe.ServiceImage{}
		}
		views = append(views, versionView{Version: r.Tag, Commit: r.Commit, Annotated: r.Annotated, Services: images})
	}
	if o.json {
		return ui.JSON(o.f.IO, views)
	}
	rows := [][]string{}
	for _, v := range views {
		for _, s := range v.Services {
			rows = append(rows, []string{v.Version, s.Service, s.Image, s.Tag})
		}
	}
	return ui.Table(o.f.IO, []string{"version", "service", "image", "tag"}, rows)
}
