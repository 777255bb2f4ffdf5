// Package appcmd implements "abra app …", one file per verb.
package appcmd

import (
	"context"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
)

// NewCmd returns the "app" command group.
func NewCmd(f *command.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "app",
		Aliases: []string{"a"},
		Short:   "Manage apps: create, configure, deploy, inspect, remove",
	}
	cmd.AddCommand(
		newNewCmd(f, nil),
		newListCmd(f, nil),
		newConfigCmd(f, nil),
		newEnvCmd(f, nil),
		newCheckCmd(f, nil),
		newDeployCmd(f, nil),
		newUpgradeCmd(f, nil),
		newRollbackCmd(f, nil),
		newPsCmd(f, nil),
		newErrorsCmd(f, nil),
		newLogsCmd(f, nil),
		newUndeployCmd(f, nil),
		newRemoveCmd(f, nil),
		newServicesCmd(f),
		newLabelsCmd(f),
		newRestartCmd(f),
		newVolumeCmd(f),
		newRunCmd(f),
		newCmdCmd(f),
		newCpCmd(f),
		newSecretCmd(f),
		newBackupCmd(f),
		newRestoreCmd(f, nil),
		newMoveCmd(f, nil),
		newSyncCmd(f),
		newHistoryCmd(f),
		newQuarantineCmd(f),
		newLockCmd(f, nil),
		newCronCmd(f),
	)
	return cmd
}

// loadApp finds an app by domain and connects to its server.
func loadApp(ctx context.Context, f *command.Factory, domain string) (*app.App, swarm.Cluster, error) {
	a, err := f.Store().Get(domain)
	if err != nil {
		return nil, nil, err
	}
	c, err := f.Cluster(ctx, a.Server)
	if err != nil {
		return nil, nil, err
	}
	return a, c, nil
}
