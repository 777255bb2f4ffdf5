package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/release"
	"coopcloud.tech/abra/internal/ui"
)

type selfUpgradeOptions struct {
	f       *command.Factory
	url     string
	rc      bool
	check   bool
	force   bool
	json    bool
	target  string // the binary to replace; the running executable when empty
	version string // the running version; Version when empty
}

func newSelfUpgradeCmd(f *command.Factory, runF func(context.Context, *selfUpgradeOptions) error) *cobra.Command {
	o := &selfUpgradeOptions{f: f}
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade abra itself to the newest release",
		Long: `Upgrade abra itself: find the newest release at the release location, download
the archive for this OS and architecture, check its sha256 against the release's
checksums.txt, and replace the running binary atomically (the new binary is
written beside it and renamed over it). A missing or wrong checksum refuses the
upgrade and leaves the binary as it was.

The release location is --url, else $ABRA_RELEASE_URL, else ` + release.DefaultURL + `.
It holds versions.json (or latest), and <version>/abra_<version>_<os>_<arch>.tar.gz
with <version>/checksums.txt, as make release lays them out (internal/dist).`,
		Example: "  abra upgrade\n  abra upgrade --check\n  abra upgrade --rc\n  abra upgrade --url https://example.org/abra-releases",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runSelfUpgrade(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.url, "url", "", "release location (default $ABRA_RELEASE_URL, else "+release.DefaultURL+")")
	cmd.Flags().BoolVarP(&o.rc, "rc", "r", false, "consider release candidates too")
	cmd.Flags().BoolVar(&o.check, "check", false, "say what would be done; change nothing")
	cmd.Flags().BoolVar(&o.check, "dry-run", false, "alias of --check")
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "install the newest release even when it is not newer, or this is a development build")
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runSelfUpgrade(ctx context.Context, o *selfUpgradeOptions) error {
	url := o.url
	if url == "" {
		url = os.Getenv("ABRA_RELEASE_URL")
	}
	version := o.version
	if version == "" {
		version = Version
	}
	target := o.target
	if target == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("upgrade: find the running binary: %w", err)
		}
		target = exe
	}
	src := release.Source{BaseURL: url, Client: &http.Client{Timeout: 10 * time.Minute}}
	if o.f.Offline {
		return command.Usagef("upgrade needs the network: drop -o/--offline")
	}
	plan, err := src.Check(ctx, version, target, release.PlanOptions{RC: o.rc, Force: o.force})
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	w := o.f.IO.Err
	if o.check {
		if o.json {
			return ui.JSON(o.f.IO, plan)
		}
		if !plan.Upgrade {
			fmt.Fprintf(w, "abra %s: %s (newest: %s); nothing to do\n", plan.Current, plan.Reason, plan.Latest)
			return nil
		}
		fmt.Fprintf(w, "would upgrade abra %s → %s (%s):\n  download %s\n  verify its sha256 against %s\n  replace %s\n",
			plan.Current, plan.Latest, plan.Reason, plan.Asset.ArchiveURL, plan.Asset.ChecksumsURL, plan.Target)
		return nil
	}
	if !plan.Upgrade {
		if o.json {
			return ui.JSON(o.f.IO, plan)
		}
		fmt.Fprintf(w, "abra %s: %s (newest: %s)\n", plan.Current, plan.Reason, plan.Latest)
		return nil
	}
	steps := &ui.Steps{W: w, JSON: o.json, Color: o.f.IO.Color()}
	if err := src.Apply(ctx, plan, steps); err != nil {
		return fmt.Errorf("upgrade abra %s → %s: %w (%s is unchanged)", plan.Current, plan.Latest, err, plan.Target)
	}
	if o.json {
		return ui.JSON(o.f.IO, plan)
	}
	fmt.Fprintf(w, "abra upgraded: %s → %s (%s)\n", plan.Current, plan.Latest, plan.Target)
	return nil
}
