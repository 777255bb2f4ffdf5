package recipecmd

import (
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/recipe"
)

// bumpFlags are abra's -x/-y/-z of recipe sync and release: step the recipe
// part of the latest release by this much, whatever changed.
type bumpFlags struct{ major, minor, patch bool }

func (b *bumpFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&b.major, "major", "x", false, "the next major version of the latest release (breaking change)")
	cmd.Flags().BoolVarP(&b.minor, "minor", "y", false, "the next minor version of the latest release (new feature)")
	cmd.Flags().BoolVarP(&b.patch, "patch", "z", false, "the next patch version of the latest release (fix)")
}

// bump is the chosen step, BumpNone without a flag; two flags, or a flag and
// a [version], are a usage error.
func (b *bumpFlags) bump(version string) (recipe.Bump, error) {
	n, step := 0, recipe.BumpNone
	for _, c := range []struct {
		set  bool
		bump recipe.Bump
	}{{b.major, recipe.BumpMajor}, {b.minor, recipe.BumpMinor}, {b.patch, recipe.BumpPatch}} {
		if c.set {
			n, step = n+1, c.bump
		}
	}
	switch {
	case n > 1:
		return step, command.Usagef("-x/--major, -y/--minor and -z/--patch exclude each other")
	case n == 1 && version != "":
		return step, command.Usagef("give [version] or one of -x/-y/-z, not both")
	}
	return step, nil
}
