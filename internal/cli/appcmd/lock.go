package appcmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type lockOptions struct {
	f      *command.Factory
	domain string
	brk    bool
	force  bool
	json   bool
}

// newLockCmd: abra app lock <domain> [--break [--force]] shows who holds the
// app's lock (every deploy, upgrade, undeploy and the update agent take it)
// and releases the lock of one that died.
func newLockCmd(f *command.Factory, runF func(context.Context, *lockOptions) error) *cobra.Command {
	o := &lockOptions{f: f}
	cmd := &cobra.Command{
		Use:   "lock <domain>",
		Short: "Show who holds the app's lock, or release the lock of an abra that died",
		Long: `Every deploy, upgrade, rollback and undeploy (from any operator's abra, or the
update agent) holds the app's lock on the server while it changes the app. An
abra that is killed leaves its lock behind: the next one fails at once when
the holder's process on this machine is gone, and otherwise waits for it.

'abra app lock <domain>' shows the holder, since when, and whether it looks
dead: its process is gone (a holder on this machine), or it has held the lock
for longer than any deploy takes. --break releases a lock whose holder looks
dead; --break --force releases any lock (the holder, if alive, goes on
changing the app unlocked).`,
		Example: "  abra app lock blog.example.org\n  abra app lock blog.example.org --break",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if o.force && !o.brk {
				return command.Usagef("--force goes with --break")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runLock(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.brk, "break", false, "release the lock if its holder looks dead")
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "with --break: release it even if the holder looks alive")
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runLock(ctx context.Context, o *lockOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	info, locked, err := app.ReadLock(ctx, c, a.StackName())
	if err != nil {
		return err
	}
	v := info.View(a.Domain, locked)
	if locked && o.brk {
		if info.Stale == "" && !o.force {
			return fmt.Errorf("%s: %s has held the lock since %s and does not look dead; wait for it, or pass --force to release it anyway",
				a.Domain, info.Holder, info.Since.Local().Format(time.DateTime))
		}
		if _, _, err := app.ForceUnlock(ctx, c, a.StackName()); err != nil {
			return err
		}
		v.Released = true
	}
	if o.json {
		return ui.JSON(o.f.IO, v)
	}
	since := info.Since.Local().Format(time.DateTime)
	switch {
	case !locked:
		fmt.Fprintln(o.f.IO.Out, o.f.Text("cli.lock.none", a.Domain))
	case v.Released:
		fmt.Fprintln(o.f.IO.Out, o.f.Text("cli.lock.released", a.Domain, info.Holder, since))
	default:
		line := o.f.Text("cli.lock.held", a.Domain, info.Holder, since)
		if info.Stale != "" {
			line += o.f.Text("cli.lock.stale", info.Stale, a.Domain)
		}
		fmt.Fprintln(o.f.IO.Out, line)
	}
	return nil
}
