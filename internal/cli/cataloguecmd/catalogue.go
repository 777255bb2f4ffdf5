// Package cataloguecmd implements "abra catalogue …".
package cataloguecmd

import (
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
)

// NewCmd returns the "catalogue" command group.
func NewCmd(f *command.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "catalogue",
		Aliases: []string{"catalog", "c"},
		Short:   "Build and publish the recipe catalogue (recipes.json)",
		Long: `The catalogue is recipes.json: every recipe with its README metadata and, per
published version, the image, tag and digest of each service. Its local copy
is a git clone in $ABRA_DIR/catalogue of $ABRA_CATALOGUE_URL (default: Co-op
Cloud's ` + "`recipes-catalogue-json`" + ` repository); recipes are cloned from
$ABRA_RECIPE_BASE_URL/<recipe>.git (default https://git.coopcloud.tech/coop-cloud).`,
	}
	cmd.AddCommand(newGenerateCmd(f, nil))
	return cmd
}
