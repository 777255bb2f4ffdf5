// Command backupbot is the server-side backup service: it backs up the apps of
// a Docker Swarm server whose services carry backupbot.* deploy labels, with
// restic, on a schedule (daemon) and on demand (the other verbs, run by
// `abra app backup …` through docker exec). The logic lives in internal/backup.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/sshsftp"
	"coopcloud.tech/abra/internal/swarm/dockerswarm"
)

var version = "dev"

const usage = `usage: backupbot <verb> [flags]

verbs:
  daemon                                        back up every app on CRON_SCHEDULE (the default)
  create   --app S [--service SVC] [--tag T]…   back up an app now
  ls       --app S | --all                      list the app's snapshots (every app's)
  download --app S [--snapshot ID] [--volumes] [--secrets] [--include-path P]…   tar stream on stdout
  restore  --app S [--service SVC] [--snapshot ID]
  verify   --app S [--snapshot ID]              restic check + restore into scratch, compared with the manifest
  init                                          create the repository if it does not exist
  version

On a swarm of several nodes, what must happen where an app's volumes live runs there as
a one-off job of this image, started by the backup service with a node verb:
  node-create | node-hooks | node-restore --spec SPEC

--json writes JSON Lines events on stdout; otherwise progress goes to stderr and the result to stdout.
`

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	// The image links /usr/bin/ssh to /backupbot: called as ssh (by restic's
	// sftp: backend), backupbot is its built-in ssh client.
	if filepath.Base(os.Args[0]) == "ssh" {
		os.Exit(sshsftp.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	verb := "daemon"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		verb, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("backupbot "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var o struct {
		app, service, snapshot, spec string
		tags, include                list
		volumes, secrets, jsonOutput bool
		all                          bool
	}
	fs.StringVar(&o.app, "app", "", "the app's stack name")
	fs.StringVar(&o.service, "service", "", "one service of the app")
	fs.StringVar(&o.snapshot, "snapshot", "", "snapshot id (default: the app's latest)")
	fs.Var(&o.tags, "tag", "extra snapshot tag (repeatable)")
	fs.StringVar(&o.spec, "spec", "", "a node verb's work, as the backup service encodes it")
	fs.Var(&o.include, "include-path", "path to download (repeatable)")
	fs.BoolVar(&o.volumes, "volumes", false, "download the volumes")
	fs.BoolVar(&o.secrets, "secrets", false, "download the services' current secrets")
	fs.BoolVar(&o.jsonOutput, "json", false, "JSON Lines events on stdout")
	fs.BoolVar(&o.all, "all", false, "ls: every app's snapshots")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if verb == "version" {
		fmt.Fprintln(stdout, "backupbot", version)
		return 0
	}
	var rep backup.Reporter = backup.Human(stderr, stdout)
	if o.jsonOutput && verb != "download" {
		rep = backup.JSONLines(stdout)
	}
	fail := func(err error, code int) int {
		data := map[string]string{}
		if h := hint.Of(err); h != "" {
			data["hint"] = h
		}
		if o.jsonOutput && verb != "download" {
			rep.Report(backup.Event{Event: backup.EventError, Message: err.Error(), Data: data})
		} else {
			fmt.Fprintln(stderr, "error:", err)
			if h := hint.Of(err); h != "" {
				fmt.Fprintln(stderr, "hint:", h)
			}
		}
		return code
	}
	needsApp := map[string]bool{"create": true, "ls": true, "download": true, "restore": true, "verify": true}
	nodeVerb := verb == backup.NodeCreate || verb == backup.NodeHooks || verb == backup.NodeRestore
	if _, ok := map[string]bool{"daemon": true, "init": true}[verb]; !ok && !needsApp[verb] && !nodeVerb {
		fmt.Fprint(stderr, usage)
		return fail(fmt.Errorf("unknown verb %q", verb), 2)
	}
	if verb == "ls" && o.all {
		needsApp["ls"] = false
	}
	if needsApp[verb] && o.app == "" {
		return fail(errors.New(verb+" needs --app <stack name>"), 2)
	}

	cfg, err := backup.ConfigFromEnv(os.Getenv)
	if err != nil {
		return fail(err, 2)
	}
	cluster, err := dockerswarm.New()
	if err != nil {
		return fail(err, 1)
	}
	defer cluster.Close()
	bot := cfg.NewBot()
	bot.Cluster, bot.Reporter = cluster, rep
	if nodeVerb {
		// Its events, result and error are the output the coordinator reads.
		bot.Reporter = backup.JSONLines(stdout)
		if bot.ServeNodeVerb(ctx, verb, o.spec) != nil {
			return 1
		}
		return 0
	}
	if verb == "create" || verb == "restore" || verb == "daemon" {
		if err := multiNode(ctx, bot); err != nil {
			return fail(err, 1)
		}
	}

	var result any
	switch verb {
	case "daemon":
		err = bot.Daemon(ctx, backup.DaemonOptions{Schedule: cfg.Schedule, Keep: cfg.Keep, Verify: cfg.VerifyAfter})
		if err == nil {
			return 0
		}
	case "init":
		var created bool
		if created, err = bot.Restic.Init(ctx); err == nil {
			result = map[string]bool{"created": created}
		}
	case "create":
		result, err = bot.Create(ctx, backup.CreateOptions{App: o.app, Service: o.service, Tags: o.tags})
	case "ls":
		var snaps []backup.Snapshot
		if o.all {
			snaps, err = bot.AllSnapshots(ctx)
		} else {
			snaps, err = bot.AppSnapshots(ctx, o.app)
		}
		if err == nil {
			if snaps == nil {
				snaps = []backup.Snapshot{}
			}
			result = map[string]any{"snapshots": snaps}
		}
	case "download":
		err = bot.Download(ctx, backup.DownloadOptions{App: o.app, Snapshot: o.snapshot, Volumes: o.volumes, Secrets: o.secrets, IncludePaths: o.include}, stdout)
		if err == nil {
			return 0
		}
	case "restore":
		result, err = bot.Restore(ctx, backup.RestoreOptions{App: o.app, Service: o.service, Snapshot: o.snapshot})
	case "verify":
		result, err = bot.Verify(ctx, o.app, o.snapshot)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fail(err, 130)
		}
		return fail(err, 1)
	}
	rep.Report(backup.Event{Event: backup.EventResult, Message: verb + " done", Data: result})
	return 0
}

// multiNode gives the bot a way to run work on the other nodes of the swarm
// (nodes may join while the daemon runs): one-off jobs copied from this
// backup service. Outside a swarm service on a single node it is not needed.
func multiNode(ctx context.Context, bot *backup.Bot) error {
	info, err := bot.Cluster.Info(ctx)
	if err != nil || !info.IsManager {
		return nil // no swarm to ask: everything is here
	}
	host, _ := os.Hostname()
	self, err := backup.FindSelf(ctx, bot.Cluster, host)
	if err != nil {
		if info.Nodes <= 1 {
			return nil
		}
		return fmt.Errorf("this swarm has %d nodes, and the backup service cannot find its own service to run work on them: %w", info.Nodes, err)
	}
	bot.Nodes = &backup.SwarmNodes{Cluster: bot.Cluster, Self: self, Root: bot.VolumeRoot}
	return nil
}
