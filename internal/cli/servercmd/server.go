// Package servercmd implements "abra server …".
package servercmd

import (
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
)

// NewCmd returns the "server" command group.
func NewCmd(f *command.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "server",
		Aliases: []string{"s"},
		Short:   "Manage the servers apps are deployed to",
	}
	cmd.AddCommand(
		newAddCmd(f, nil),
		newListCmd(f, nil),
		newRemoveCmd(f, nil),
		newPruneCmd(f),
	)
	return cmd
}
