package appcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

type psOptions struct {
	f      *command.Factory
	domain string
	json   bool
	watch  bool
	// interval is the pause between two snapshots with --watch.
	interval time.Duration
}

func newPsCmd(f *command.Factory, runF func(context.Context, *psOptions) error) *cobra.Command {
	o := &psOptions{f: f, interval: 2 * time.Second}
	cmd := &cobra.Command{
		Use:     "ps <domain> [--watch]",
		Aliases: []string{"p"},
		Short:   "List the app's tasks: node, state, health, errors",
		Long: `List the app's tasks: node, state, health, errors.

The node column is the hostname of the node a task is on, with "(down)" when
swarm lost that node (the task's state is then the last it heard) and
"(drained)" when the node was drained (swarm moves its tasks elsewhere). A
task waiting for a node has none, and its error is swarm's reason (e.g. "no
suitable node (scheduling constraints not satisfied on 3 nodes)").

With --watch the list is refreshed every 2 seconds until you interrupt it
(Ctrl-C, exit code 130). On a terminal the screen is redrawn; otherwise each
snapshot is printed after the previous one, separated by a blank line (with
--json, one JSON array per line).`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runPs(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "refresh the list until interrupted")
	return cmd
}

func runPs(ctx context.Context, o *psOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	if !o.watch {
		return printTasks(ctx, o, c, a)
	}
	return watch(ctx, o.f, o.json, o.interval, func() error { return printTasks(ctx, o, c, a) })
}

// watch prints a snapshot every interval until interrupted (exit code 130):
// on a terminal it redraws in place; otherwise snapshots follow each other,
// separated by a blank line (with JSON, one per line).
func watch(ctx context.Context, f *command.Factory, asJSON bool, interval time.Duration, print func() error) error {
	tty := f.IO.OutIsTerminal()
	for i := 0; ; i++ {
		switch {
		case tty:
			fmt.Fprint(f.IO.Out, "\033[H\033[2J") // home and clear: redraw in place
		case i > 0 && !asJSON:
			fmt.Fprintln(f.IO.Out)
		}
		if err := print(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func printTasks(ctx context.Context, o *psOptions, c swarm.Cluster, a *app.App) error {
	tasks, err := app.Tasks(ctx, c, a)
	if err != nil {
		return err
	}
	if o.json {
		if tasks == nil {
			tasks = []app.Task{}
		}
		if o.watch { // JSON Lines: one snapshot per line
			return json.NewEncoder(o.f.IO.Out).Encode(tasks)
		}
		return ui.JSON(o.f.IO, tasks)
	}
	rows := [][]string{}
	for _, t := range tasks {
		h := t.Health
		if h == "" {
			h = "-"
		}
		node := orDash(t.Hostname)
		if t.NodeTrouble != "" {
			node += " (" + t.NodeTrouble + ")"
		}
		rows = append(rows, []string{t.Service, t.Image, node, t.State, h, t.Since, t.Error})
	}
	return ui.Table(o.f.IO, []string{"service", "image", "node", "state", "health", "since", "error"}, rows)
}
