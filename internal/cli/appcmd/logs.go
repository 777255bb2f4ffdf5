package appcmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
)

type logsOptions struct {
	f       *command.Factory
	domain  string
	service string
	follow  bool
	tail    string
	stdout  bool
	stderr  bool
	since   string
}

func newLogsCmd(f *command.Factory, runF func(context.Context, *logsOptions) error) *cobra.Command {
	o := &logsOptions{f: f}
	cmd := &cobra.Command{
		Use:     "logs <domain> [service]",
		Aliases: []string{"l"},
		Short:   "Show the logs of the app's services",
		Long: `Show the logs of the app's services (of one service when named), each line
prefixed with the service's name. Both output streams of the tasks are shown
unless --stdout or --stderr picks one.

--since takes a time (2024-05-01T12:00:00Z, 2024-05-01) or a duration back from
now (10m, 2h).`,
		Args: command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if len(args) == 2 {
				o.service = args[1]
			}
			if o.stdout && o.stderr {
				return command.Usagef("--stdout and --stderr exclude each other: give neither to see both")
			}
			if _, err := parseSince(o.since, time.Now()); err != nil {
				return &command.UsageError{Err: err}
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runLogs(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep streaming new lines")
	cmd.Flags().StringVarP(&o.tail, "tail", "t", "all", "number of lines from the end of the logs, or \"all\"")
	cmd.Flags().BoolVar(&o.stdout, "stdout", false, "only the tasks' standard output")
	cmd.Flags().BoolVarP(&o.stderr, "stderr", "s", false, "only the tasks' standard error")
	cmd.Flags().StringVarP(&o.since, "since", "S", "", "only lines since a time (YYYY-MM-DDTHH:MM:SSZ) or a duration ago (10m)")
	return cmd
}

// parseSince reads --since: empty, an RFC 3339 time, a date, or a duration
// back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a time such as 2024-05-01T12:00:00Z or 2024-05-01, or a duration such as 10m", s)
}

// logOptions translates the flags into the cluster's log options.
func (o *logsOptions) logOptions(now time.Time) (swarm.LogOptions, error) {
	since, err := parseSince(o.since, now)
	if err != nil {
		return swarm.LogOptions{}, err
	}
	lo := swarm.LogOptions{Follow: o.follow, Tail: o.tail, Since: since}
	switch {
	case o.stdout:
		lo.Stream = "stdout"
	case o.stderr:
		lo.Stream = "stderr"
	}
	return lo, nil
}

func runLogs(ctx context.Context, o *logsOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	lo, err := o.logOptions(time.Now())
	if err != nil {
		return err
	}
	return app.Logs(ctx, c, a, o.service, lo, func(l app.LogLine) {
		fmt.Fprintf(o.f.IO.Out, "%s | %s\n", l.Service, l.Text)
	})
}
