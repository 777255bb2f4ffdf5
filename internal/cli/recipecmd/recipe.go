// Package recipecmd implements "abra recipe …".
package recipecmd

import (
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
)

// NewCmd returns the "recipe" command group.
func NewCmd(f *command.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "recipe",
		Aliases: []string{"r"},
		Short:   "Manage recipes (git repositories of compose files)",
	}
	cmd.AddCommand(
		newFetchCmd(f, nil),
		newNewCmd(f),
		newVersionsCmd(f, nil),
		newLintCmd(f, nil),
		newUpgradeCmd(f, nil),
		newSyncCmd(f, nil),
		newReleaseCmd(f, nil),
		newDiffCmd(f),
		newResetCmd(f, nil),
		newListCmd(f, nil),
	)
	return cmd
}
