package appcmd

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/ui"
)

type servicesOptions struct {
	f      *command.Factory
	domain string
	json   bool
	labels bool
}

func newServicesCmd(f *command.Factory) *cobra.Command {
	o := &servicesOptions{f: f}
	cmd := &cobra.Command{
		Use:     "services <domain>",
		Aliases: []string{"sr"},
		Short:   "List the app's deployed services: image, replicas, ports",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			return runServices(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func newLabelsCmd(f *command.Factory) *cobra.Command {
	o := &servicesOptions{f: f, labels: true}
	cmd := &cobra.Command{
		Use:     "labels <domain>",
		Aliases: []string{"lb"},
		Short:   "Show the coop-cloud.* labels of the deployed app (version, chaos, recipe, …)",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			return runServices(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runServices(ctx context.Context, o *servicesOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	services, err := app.Services(ctx, c, a)
	if err != nil {
		return err
	}
	if o.labels {
		labels := app.AbraLabels(services)
		if o.json {
			return ui.JSON(o.f.IO, labels)
		}
		rows := [][]string{}
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			rows = append(rows, []string{k, labels[k]})
		}
		return ui.Table(o.f.IO, []string{"label", "value"}, rows)
	}
	if o.json {
		for i := range services {
			services[i].Labels = nil
		}
		return ui.JSON(o.f.IO, services)
	}
	rows := [][]string{}
	for _, s := range services {
		rows = append(rows, []string{s.Name, s.Image, strconv.Itoa(s.Running) + "/" + strconv.Itoa(s.Desired), strings.Join(s.Ports, ", ")})
	}
	return ui.Table(o.f.IO, []string{"service", "image", "replicas", "ports"}, rows)
}

type restartOptions struct {
	f      *command.Factory
	domain string
	names  []string
	all    bool
}

func newRestartCmd(f *command.Factory) *cobra.Command {
	o := &restartOptions{f: f}
	cmd := &cobra.Command{
		Use:     "restart <domain> [service...] | --all-services",
		Aliases: []string{"re"},
		Short:   "Restart services of the app and wait until they run again",
		Args:    command.RangeArgs(1, 100),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain, o.names = args[0], args[1:]
			if o.all == (len(o.names) > 0) {
				return command.Usagef("name services to restart, or pass --all-services (one of them)")
			}
			return runRestart(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.all, "all-services", "a", false, "restart every service of the app")
	return cmd
}

func runRestart(ctx context.Context, o *restartOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	err = app.Restart(ctx, c, a, o.names, app.DefaultTimeout, func(st []stack.ServiceStatus) {
		parts := make([]string, len(st))
		for i, s := range st {
			parts[i] = s.String()
		}
		fmt.Fprintf(o.f.IO.Err, "  %s\n", strings.Join(parts, ", "))
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.f.IO.Err, "%s restarted\n", a.Domain)
	return nil
}
