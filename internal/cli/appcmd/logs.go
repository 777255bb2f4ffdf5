package appcmd

import (
	"bufio"
	"context"
	"fmt"
	"sync"

	"github.com/docker/cli/cli/compose/convert"
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
}

func newLogsCmd(f *command.Factory, runF func(context.Context, *logsOptions) error) *cobra.Command {
	o := &logsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "logs <domain> [service]",
		Short: "Show the logs of the app's services",
		Args:  command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if len(args) == 2 {
				o.service = args[1]
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runLogs(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep streaming new lines")
	cmd.Flags().StringVarP(&o.tail, "tail", "t", "all", "number of lines from the end of the logs, or \"all\"")
	return cmd
}

func runLogs(ctx context.Context, o *logsOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	services := map[string]string{} // short name → ID
	if o.service != "" {
		id, err := app.ServiceID(ctx, c, a, o.service)
		if err != nil {
			return err
		}
		services[o.service] = id
	} else {
		all, err := c.Services(ctx, a.StackName())
		if err != nil {
			return err
		}
		if len(all) == 0 {
			_, err := app.ServiceID(ctx, c, a, "app") // not deployed: its error says so
			return err
		}
		ns := convert.NewNamespace(a.StackName())
		for _, s := range all {
			services[ns.Descope(s.Spec.Name)] = s.ID
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(services))
	for name, id := range services {
		rc, err := c.ServiceLogs(ctx, id, swarm.LogOptions{Follow: o.follow, Tail: o.tail})
		if err != nil {
			return fmt.Errorf("logs of %s: %w", name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer rc.Close()
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			for sc.Scan() {
				mu.Lock()
				fmt.Fprintf(o.f.IO.Out, "%s | %s\n", name, sc.Text())
				mu.Unlock()
			}
			if err := sc.Err(); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("logs of %s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
