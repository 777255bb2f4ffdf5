package appcmd

import (
	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/journal"
)

// journalled begins an operation of the app in the operations journal (a
// dashboard shows it live); End it with the operation's error. The backup
// service's events go to it through app.BackupNotes.
func journalled(f *command.Factory, command string, a *app.App) *journal.Op {
	return f.Journal().Begin(command, a.Domain, a.Server, app.Holder())
}
