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
  ls       --app S                              list the app's snapshots
  download --app S [--snapshot ID] [--volumes] [--secrets] [--include-path P]…   tar stream on stdout
  restore  --app S [--service SVC] [--snapshot ID]
  verify   --app S [--snapshot ID]              restic check + restore into scratch, compared with the manifest
  init                                          create the repository if it does not exist
  version

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
		app, service, snapshot       string
		tags, include                list
		volumes, secrets, jsonOutput bool
	}
	fs.StringVar(&o.app, "app", "", "the app's stack name")
	fs.StringVar(&o.service, "service", "", "one service of the app")
	fs.StringVar(&o.snapshot, "snapshot", "", "snapshot id (default: the app's latest)")
	fs.Var(&o.tags, "tag", "extra snapshot tag (repeatable)")
	fs.Var(&o.include, "include-path", "path to download (repeatable)")
	fs.BoolVar(&o.volumes, "volumes", false, "download the volumes")
	fs.BoolVar(&o.secrets, "secrets", false, "download the services' current secrets")
	fs.BoolVar(&o.jsonOutput, "json", false, "JSON Lines events on stdout")
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
	if _, ok := map[string]bool{"daemon": true, "init": true}[verb]; !ok && !needsApp[verb] {
		fmt.Fprint(stderr, usage)
		return fail(fmt.Errorf("unknown verb %q", verb), 2)
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
		if snaps, err = bot.AppSnapshots(ctx, o.app); err == nil {
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
