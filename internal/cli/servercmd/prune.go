package servercmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

type pruneOptions struct {
	f       *command.Factory
	server  string
	volumes bool
	all     bool
	force   bool
	json    bool
}

type pruneView struct {
	swarm.PruneReport
	Volumes []string `json:"volumes"`
}

func newPruneCmd(f *command.Factory) *cobra.Command {
	o := &pruneOptions{f: f}
	cmd := &cobra.Command{
		Use:     "prune <server> [--all] [--volumes]",
		Aliases: []string{"p"},
		Short:   "Remove stopped containers, leftover stack networks and dangling images (and unused volumes with --volumes)",
		Long: `Free space on a server: stopped containers, networks of stacks that have no
services left, and dangling images go. Other networks, such as "proxy", stay.
With --all, every image no container uses goes, not only dangling ones.

With --volumes, volumes no container uses go too — with their data. They are
listed first and you are asked (--force skips the question).`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.server = args[0]
			return runPrune(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.all, "all", "a", false, "remove every unused image, not only dangling ones")
	cmd.Flags().BoolVarP(&o.volumes, "volumes", "v", false, "also delete unused volumes (their data is lost)")
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "with --volumes: delete without asking")
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runPrune(ctx context.Context, o *pruneOptions) error {
	c, err := o.f.Cluster(ctx, o.server)
	if err != nil {
		return err
	}
	var volumes []string
	if o.volumes {
		if volumes, err = c.UnusedVolumes(ctx); err != nil {
			return err
		}
		if len(volumes) > 0 && !o.force {
			fmt.Fprintf(o.f.IO.Err, "unused volumes on %s, deleted for good with their data:\n  %s\n", o.server, strings.Join(volumes, "\n  "))
			ok, err := o.f.Confirm(fmt.Sprintf("delete these %d volumes", len(volumes)), "--force")
			if err != nil {
				return err
			}
			if !ok {
				return errors.New("nothing pruned")
			}
		}
	}
	report, err := c.Prune(ctx, swarm.PruneOptions{AllImages: o.all})
	if err != nil {
		return err
	}
	// Lists, never null, in --json: Docker's report leaves empty ones nil.
	for _, l := range []*[]string{&report.Containers, &report.Networks, &report.Images} {
		if *l == nil {
			*l = []string{}
		}
	}
	view := pruneView{PruneReport: report, Volumes: []string{}}
	for _, v := range volumes {
		if err := c.RemoveVolume(ctx, v); err != nil {
			return fmt.Errorf("remove volume %s: %w", v, err)
		}
		view.Volumes = append(view.Volumes, v)
	}
	if o.json {
		return ui.JSON(o.f.IO, view)
	}
	fmt.Fprintf(o.f.IO.Err, "%s: removed %d containers, %d networks, %d images, %d volumes; %.1f MB reclaimed\n",
		o.server, len(report.Containers), len(report.Networks), len(report.Images), len(view.Volumes), float64(report.Reclaimed)/1e6)
	return nil
}
