// Command abra-agent is the server-side update agent (recipes/abra-agent):
// "serve" resumes interrupted updates and then runs a pass on a schedule;
// called as "kadabra" (or with kadabra's verbs) it is a drop-in for
// kadabra's cron lines: notify [--major], upgrade <stack> <recipe> |
// --all [--major] [--chaos], now on abra's update pipeline.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // maintenance windows name zones; the image has no zoneinfo

	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/agent"
	"coopcloud.tech/abra/internal/notify"
	"coopcloud.tech/abra/internal/swarm/dockerswarm"
)

var version = "dev"

func init() {
	// The image has no git: recipes at local paths (compose.local-remotes.yml)
	// are read by go-git's own server in process instead of git-upload-pack.
	client.InstallProtocol("file", server.NewServer(workTreeLoader{}))
}

// workTreeLoader serves a repository at a path, bare or with a work tree
// (its .git directory), as git-upload-pack does.
type workTreeLoader struct{}

func (workTreeLoader) Load(ep *transport.Endpoint) (storer.Storer, error) {
	p := ep.Path
	if fi, err := os.Stat(filepath.Join(p, ".git")); err == nil && fi.IsDir() {
		p = filepath.Join(p, ".git")
	}
	e := *ep
	e.Path = p
	return server.DefaultLoader.Load(&e)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	if filepath.Base(args[0]) == "kadabra" {
		root.Use = "kadabra"
	}
	root.SetArgs(args[1:])
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		var ex exitCode
		if errors.As(err, &ex) {
			return int(ex)
		}
		return 1
	}
	return 0
}

type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// config is the agent's environment (the recipe sets it).
type config struct {
	dir, server string
	sender      *notify.Sender
}

func loadConfig() (config, error) {
	c := config{dir: envOr("ABRA_AGENT_DIR", "/data"), server: envOr("SERVER_NAME", hostname())}
	s := &notify.Sender{WebhookURL: os.Getenv("WEBHOOK_URL")}
	for u := range strings.FieldsSeq(strings.ReplaceAll(os.Getenv("PUSH_URLS"), ",", " ")) {
		s.PushURLs = append(s.PushURLs, u)
	}
	secretFile := envOr("WEBHOOK_SECRET_FILE", "/run/secrets/webhook_secret")
	if b, err := os.ReadFile(secretFile); err == nil {
		s.WebhookSecret = strings.TrimSpace(string(b))
	} else if s.WebhookURL != "" {
		return c, fmt.Errorf("WEBHOOK_URL is set but its secret %s cannot be read: %w", secretFile, err)
	}
	c.sender = s
	return c, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func hostname() string { h, _ := os.Hostname(); return h }

func newAgent(stderr io.Writer) (*agent.Agent, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	// Recipe checkouts go to the data volume: the container's /tmp may be
	// small, or a read-only mount (compose.local-remotes.yml of /tmp).
	tmp := filepath.Join(cfg.dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	if err := os.Setenv("TMPDIR", tmp); err != nil {
		return nil, err
	}
	c, err := dockerswarm.New()
	if err != nil {
		return nil, err
	}
	return &agent.Agent{Cluster: c, Dir: cfg.dir, Server: cfg.server, Actor: "abra-agent@" + cfg.server,
		Notifier: cfg.sender, Log: stderr}, nil
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "abra-agent",
		Short:         "Automatic updates of the apps on this swarm, on abra's update pipeline",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var jsonOut bool
	report := func(reps []agent.Report, err error) error {
		if jsonOut {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if reps == nil {
				reps = []agent.Report{}
			}
			_ = enc.Encode(reps)
		} else {
			for _, r := range reps {
				line := fmt.Sprintf("%s\t%s\t%s", r.App, r.Current, r.Result)
				if r.Target != "" {
					line += "\t" + r.Target
				}
				if r.Gate != nil {
					line += "\t" + r.Gate.Code + ": " + r.Gate.Reason
				}
				if r.Error != "" {
					line += "\t" + r.Error
				}
				fmt.Fprintln(stdout, line)
			}
		}
		if err != nil {
			return err
		}
		for _, r := range reps {
			if r.Result == "failed" || r.Result == "rolled-back" || r.Result == "error" {
				return exitCode(2)
			}
		}
		return nil
	}
	root.PersistentFlags().BoolVar(&jsonOut, "json", false, "print the reports as JSON")

	var schedule string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Finish interrupted updates, then update on a schedule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := newAgent(stderr)
			if err != nil {
				return err
			}
			sched, err := cron.ParseStandard(schedule)
			if err != nil {
				return fmt.Errorf("--schedule %q: %w", schedule, err)
			}
			ctx := cmd.Context()
			stopCron, err := startCron(ctx, g.Cluster, os.Getenv, stderr)
			if err != nil {
				return err
			}
			defer stopCron()
			hooks, err := loadHooks()
			if err != nil {
				return err
			}
			// A listener that dies ends the agent: swarm restarts it.
			hooksDone := make(chan error, 1)
			if hooks != nil {
				serveHooks, err := listenHooks(ctx, hooks, g, stderr)
				if err != nil {
					return err
				}
				go func() { hooksDone <- serveHooks() }()
			}
			if _, err := g.Resume(ctx); err != nil {
				fmt.Fprintln(stderr, "resume:", err)
			}
			for {
				next := sched.Next(time.Now())
				fmt.Fprintf(stderr, "%s next pass at %s\n", time.Now().UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339))
				select {
				case <-ctx.Done():
					return nil
				case err := <-hooksDone:
					if err == nil { // ctx ended
						return nil
					}
					return fmt.Errorf("webhooks: %w", err)
				case <-time.After(time.Until(next)):
				}
				if _, err := g.Pass(ctx, agent.Options{Trigger: "agent"}); err != nil {
					fmt.Fprintln(stderr, "pass:", err)
				}
			}
		},
	}
	serve.Flags().StringVar(&schedule, "schedule", envOr("SCHEDULE", "@every 1h"), "when to look for updates (cron expression or @every 30m; env SCHEDULE)")

	pass := &cobra.Command{
		Use:   "pass",
		Short: "Finish interrupted updates and run one pass now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := newAgent(stderr)
			if err != nil {
				return err
			}
			resumed, err := g.Resume(cmd.Context())
			if err != nil {
				return err
			}
			reps, err := g.Pass(cmd.Context(), agent.Options{Trigger: "agent"})
			return report(append(resumed, reps...), err)
		},
	}

	var major, chaos, all bool
	notifyCmd := &cobra.Command{
		Use:   "notify",
		Short: "Report the updates available and held (kadabra notify); change nothing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := newAgent(stderr)
			if err != nil {
				return err
			}
			return report(g.Pass(cmd.Context(), agent.Options{Trigger: "kadabra", DryRun: true, Major: major}))
		},
	}
	notifyCmd.Flags().BoolVarP(&major, "major", "m", false, "also report major updates")
	upgrade := &cobra.Command{
		Use:   "upgrade [<stack> <recipe>] | --all",
		Short: "Upgrade one app (named by stack and recipe) or every opted-in app (kadabra upgrade)",
		Args: func(cmd *cobra.Command, args []string) error {
			if all && len(args) != 0 || !all && len(args) != 2 {
				return errors.New("want <stack> <recipe>, or --all")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := newAgent(stderr)
			if err != nil {
				return err
			}
			if _, err := g.Resume(cmd.Context()); err != nil {
				return err
			}
			o := agent.Options{Trigger: "kadabra", Major: major, Chaos: chaos}
			if !all {
				o.Stack, o.Recipe, o.Explicit = args[0], args[1], true
			}
			return report(g.Pass(cmd.Context(), o))
		},
	}
	upgrade.Flags().BoolVarP(&all, "all", "a", false, "every app that opted in (ENABLE_AUTO_UPDATE=true)")
	upgrade.Flags().BoolVarP(&major, "major", "m", false, "allow major updates, within each app's policy")
	upgrade.Flags().BoolVarP(&chaos, "chaos", "C", false, "also move apps deployed from a work tree (chaos) to the newest release")
	root.AddCommand(serve, pass, notifyCmd, upgrade)
	return root
}
