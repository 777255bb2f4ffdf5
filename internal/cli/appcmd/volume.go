package appcmd

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

func newVolumeCmd(f *command.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "volume",
		Aliases: []string{"vol", "vl"},
		Short:   "Manage the app's volumes",
	}
	var asJSON bool
	ls := &cobra.Command{
		Use:     "ls <domain>",
		Aliases: []string{"list"},
		Short:   "List the app's volumes on its server",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, c, err := loadApp(cmd.Context(), f, args[0])
			if err != nil {
				return err
			}
			vols, err := c.Volumes(cmd.Context(), a.StackName())
			if err != nil {
				return err
			}
			if asJSON {
				if vols == nil {
					vols = []string{}
				}
				return ui.JSON(f.IO, vols)
			}
			rows := [][]string{}
			for _, v := range vols {
				rows = append(rows, []string{v})
			}
			return ui.Table(f.IO, []string{"volume"}, rows)
		},
	}
	command.AddJSONFlag(ls, &asJSON)
	var force bool
	rm := &cobra.Command{
		Use:     "rm <domain> [volume...]",
		Aliases: []string{"remove"},
		Short:   "Delete the app's volumes (all, or those named); their data is lost",
		Args:    command.RangeArgs(1, 100),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVolumeRm(cmd.Context(), f, args[0], args[1:], force)
		},
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "delete without asking")
	cmd.AddCommand(ls, rm)
	return cmd
}

func runVolumeRm(ctx context.Context, f *command.Factory, domain string, names []string, force bool) error {
	a, c, err := loadApp(ctx, f, domain)
	if err != nil {
		return err
	}
	vols, err := c.Volumes(ctx, a.StackName())
	if err != nil {
		return err
	}
	if len(names) > 0 {
		for _, n := range names {
			if !slices.Contains(vols, n) {
				return fmt.Errorf("%s has no volume %q (volumes: %s)", a.Domain, n, listOrNone(vols))
			}
		}
		vols = names
	}
	if len(vols) == 0 {
		fmt.Fprintf(f.IO.Err, "%s has no volumes\n", a.Domain)
		return nil
	}
	if !force {
		fmt.Fprintf(f.IO.Err, "deleting for good: %s\n", listOrNone(vols))
		ok, err := f.Confirm("delete these volumes", "--force")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("nothing deleted")
		}
	}
	for _, v := range vols {
		if err := c.RemoveVolume(ctx, v); err != nil {
			return fmt.Errorf("remove volume %s: %w (is the app still deployed? undeploy it first)", v, err)
		}
		fmt.Fprintf(f.IO.Err, "removed volume %s\n", v)
	}
	return nil
}
