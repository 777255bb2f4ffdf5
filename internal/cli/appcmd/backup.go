package appcmd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
)

func newBackupCmd(f *command.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "backup",
		Aliases: []string{"b"},
		Short:   "Back the app up, list, download and verify its snapshots",
		Long: `Drive the backup service (the backup-bot recipe) on the app's server.

Services are backed up when their deploy labels say so ("backupbot.backup=true",
hooks in "backupbot.backup.pre-hook" / "post-hook", volumes chosen with
"backupbot.backup.volumes.<volume>=false" or ".path=<p1>,<p2>"). The backup
service is the service labelled "coop-cloud.backupbot.enabled=true" on the same
server; abra runs its commands in its container, locally or over SSH.
To restore, see 'abra app restore'.`,
	}
	cmd.AddCommand(
		newBackupCreateCmd(f, nil),
		newBackupListCmd(f, nil),
		newBackupDownloadCmd(f, nil),
		newBackupVerifyCmd(f, nil),
	)
	return cmd
}

// backupsFor finds the app, connects to its server and returns the backup
// client with its progress renderer on stderr (JSON Lines with asJSON).
func backupsFor(ctx context.Context, f *command.Factory, domain string, asJSON bool) (*app.App, *app.Backups, *backupProgress, error) {
	a, c, err := loadApp(ctx, f, domain)
	if err != nil {
		return nil, nil, nil, err
	}
	p := newBackupProgress(f, asJSON)
	b := &app.Backups{Cluster: c, Observer: p}
	if f.Debug {
		b.Logs = f.IO.Err
	}
	return a, b, p, nil
}

func newBackupProgress(f *command.Factory, asJSON bool) *backupProgress {
	return &backupProgress{w: f.IO.Err, json: asJSON, tty: f.IO.ErrIsTerminal(), every: 5 * time.Second}
}

// backupProgress renders the backup service's events on stderr: plain lines,
// or with json the JSON Lines exactly as the service wrote them. Progress is
// one rewritten line on a terminal, and a line every few seconds otherwise.
type backupProgress struct {
	w      io.Writer
	json   bool
	tty    bool
	every  time.Duration
	indent string // when the operation is itself a step of something larger

	mu       sync.Mutex
	open     bool // a progress line without newline is on the terminal
	lastLine time.Time
}

func (p *backupProgress) BackupEvent(e app.BackupEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		fmt.Fprintln(p.w, string(e.Raw))
		return
	}
	msg := e.Message
	if msg == "" {
		msg = e.Step
	}
	if e.Service != "" {
		msg = e.Service + ": " + msg
	}
	switch e.Event {
	case "result", "error":
		return // the command prints the result; the error is returned and reported once
	case "progress":
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K%s  %s", p.indent, msg)
			p.open = true
		} else if time.Since(p.lastLine) >= p.every {
			fmt.Fprintf(p.w, "%s  %s\n", p.indent, msg)
			p.lastLine = time.Now()
		}
		return
	}
	if p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
	switch e.Event {
	case "step":
		fmt.Fprintf(p.w, "%s→ %s\n", p.indent, msg)
	case "hook":
		fmt.Fprintf(p.w, "%s  hook %s\n", p.indent, msg)
	case "warning":
		fmt.Fprintf(p.w, "%swarning: %s\n", p.indent, msg)
	default:
		fmt.Fprintf(p.w, "%s  %s\n", p.indent, msg)
	}
}

// done ends a pending progress line.
func (p *backupProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprint(p.w, "\r\033[K")
		p.open = false
	}
}

// humanBytes renders a size with a binary unit: 512 B, 1.5 KiB, 3.2 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func joinOrDash(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}
