package cataloguecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/catalogue"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/registry"
)

type generateOptions struct {
	f *command.Factory
	// resolver asks registries for digests; nil means the real registries.
	resolver catalogue.Resolver
	getenv   func(string) string

	recipes     []string
	publish     bool
	dryRun      bool
	skipUpdates bool
	fromDir     string
	html        string
	jobs        int
}

func newGenerateCmd(f *command.Factory, runF func(context.Context, *generateOptions) error) *cobra.Command {
	o := &generateOptions{f: f, getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:     "generate [recipe…]",
		Aliases: []string{"g"},
		Short:   "Regenerate recipes.json from the recipes' git tags and registries",
		Long: `Fetch the recipes (clone missing ones into $ABRA_DIR/recipes), read every
published version's services and images, ask the registries for their
digests, and write $ABRA_DIR/catalogue/recipes.json. Recipes are read and
digests resolved concurrently (--jobs). Digests are cached by image:tag in
$ABRA_DIR/cache/digests.json, and versions already in recipes.json are reused,
so a regeneration after one new tag reads one recipe's new version only.

Without arguments every recipe of the current catalogue is regenerated; with
arguments only those (added when new), the others are kept as they are.

--from-dir DIR reads each subdirectory of DIR with a compose.yml as a recipe,
in place: a git repository contributes its version tags; a plain directory
one version, named by the coop-cloud.${STACK_NAME}.version label of its
compose.yml (this is how the project's own recipes/ folder is published).

A digest that cannot be resolved is "unknown", with a warning naming the
registry; a recipe whose remote is unreachable is read from its local clone,
with a warning naming the remote. --publish commits recipes.json and pushes
it to the catalogue's remote.`,
		Example: "  abra catalogue generate\n" +
			"  abra catalogue generate wordpress --publish\n" +
			"  abra catalogue generate --from-dir recipes --html public/index.html",
		RunE: func(cmd *cobra.Command, args []string) error {
			o.recipes = args
			if o.publish && o.dryRun {
				return command.Usagef("--publish and --dry-run exclude each other")
			}
			if o.publish && o.f.Offline {
				return command.Usagef("--publish pushes to the catalogue's remote: drop --offline")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runGenerate(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.publish, "publish", "p", false, "commit recipes.json and push it to the catalogue's remote")
	fl.BoolVarP(&o.dryRun, "dry-run", "r", false, "generate, list on stdout the recipes whose entries would change, and write nothing")
	fl.BoolVarP(&o.skipUpdates, "skip-updates", "s", false, "do not fetch recipes: use the local clones as they are")
	fl.StringVar(&o.fromDir, "from-dir", "", "read the recipes in the subdirectories of `DIR` in place instead of $ABRA_DIR/recipes")
	fl.StringVar(&o.html, "html", "", "also render the catalogue as a static web page to `FILE`")
	fl.IntVarP(&o.jobs, "jobs", "j", 8, "recipes read and registry requests made at once")
	return cmd
}

func runGenerate(ctx context.Context, o *generateOptions) error {
	errw := o.f.IO.Err
	cfg := catalogue.ConfigFromEnv(o.getenv)
	local := catalogue.Local{Dir: filepath.Join(o.f.AbraDir, "catalogue"), URL: cfg.URL}
	switch warn, err := local.Refresh(ctx, o.f.Offline); {
	case err != nil:
		fmt.Fprintf(errw, "warning: %v; starting from an empty catalogue\n", err)
	case warn != nil:
		fmt.Fprintf(errw, "warning: catalogue: %v; going on with the local copy\n", warn)
	}
	if err := local.Init(); err != nil {
		return err
	}
	prev, err := catalogue.Read(local.Path())
	if errors.Is(err, catalogue.ErrNoCatalogue) {
		prev = catalogue.Catalogue{}
	} else if err != nil {
		return err
	}

	sources, err := o.sources(cfg, prev)
	if err != nil {
		return err
	}
	resolver := o.resolver
	if resolver == nil {
		resolver = registry.New()
	}
	cache := catalogue.LoadDigestCache(filepath.Join(o.f.AbraDir, "cache", "digests.json"))
	g := catalogue.Generator{
		Resolver:    resolver,
		Cache:       cache,
		Previous:    prev,
		Concurrency: o.jobs,
		SkipUpdates: o.skipUpdates,
		Offline:     o.f.Offline,
		Observe: func(e catalogue.Event) {
			if e.Warning {
				fmt.Fprintf(errw, "warning: %s: %s\n", e.Recipe, e.Message)
			} else {
				fmt.Fprintf(errw, "%s: %s\n", e.Recipe, e.Message)
			}
		},
	}
	start := time.Now()
	res, err := g.Generate(ctx, sources)
	if err != nil {
		return err
	}
	if err := cache.Save(); err != nil {
		fmt.Fprintf(errw, "warning: %v\n", err)
	}
	merged := maps.Clone(prev)
	maps.Copy(merged, res.Catalogue)
	if o.dryRun {
		for _, name := range slices.Sorted(maps.Keys(res.Catalogue)) {
			before, had := prev[name]
			a, _ := json.Marshal(before)
			b, _ := json.Marshal(res.Catalogue[name])
			switch {
			case !had:
				fmt.Fprintf(o.f.IO.Out, "%s\tnew\n", name)
			case string(a) != string(b):
				fmt.Fprintf(o.f.IO.Out, "%s\tchanged\n", name)
			}
		}
		fmt.Fprintf(errw, "catalogue: dry run: %d recipes generated, nothing written\n", len(res.Catalogue))
		return nil
	}
	if err := merged.Write(local.Path()); err != nil {
		return err
	}
	fmt.Fprintf(errw, "catalogue: %d recipes (%d regenerated, %d versions reused, %d registry requests, %d warnings) in %s → %s\n",
		len(merged), len(res.Catalogue), res.Reused, res.Requests, len(res.Warnings), time.Since(start).Round(time.Millisecond), local.Path())

	if o.html != "" {
		if err := writeHTML(o.html, merged); err != nil {
			return err
		}
		fmt.Fprintf(errw, "catalogue: web page written to %s\n", o.html)
	}
	if o.publish {
		commit, err := local.Publish(ctx, fmt.Sprintf("Publish the catalogue: %d recipes", len(merged)))
		switch {
		case errors.Is(err, catalogue.ErrNothingToPublish):
			fmt.Fprintf(errw, "catalogue: %v\n", err)
		case err != nil:
			return err
		default:
			fmt.Fprintf(errw, "catalogue: published %s to %s\n", commit[:12], cfg.URL)
		}
	}
	if len(res.Failed) > 0 {
		var lines []string
		for _, name := range slices.Sorted(maps.Keys(res.Failed)) {
			lines = append(lines, fmt.Sprintf("  %s: %v", name, res.Failed[name]))
		}
		return hint.With(fmt.Errorf("%w: %d of %d recipes could not be read (their previous entries are kept):\n%s",
			command.ErrPartial, len(res.Failed), len(sources), strings.Join(lines, "\n")),
			"check the remotes named above, or regenerate from the local clones with --skip-updates")
	}
	return nil
}

// sources lists the recipes to generate.
func (o *generateOptions) sources(cfg catalogue.Config, prev catalogue.Catalogue) ([]catalogue.Source, error) {
	if o.fromDir != "" {
		return fromDir(o.fromDir, o.recipes)
	}
	names := o.recipes
	if len(names) == 0 {
		names = prev.Names()
	}
	if len(names) == 0 {
		return nil, command.Usagef("the catalogue is empty: name the recipes to add (abra catalogue generate <recipe>…), or pass --from-dir <dir>")
	}
	var out []catalogue.Source
	for _, name := range names {
		if err := guard.RecipeName(name); err != nil {
			if len(o.recipes) == 0 { // the name came from recipes.json
				return nil, &guard.FileError{Path: "recipes.json", Key: "recipe", Err: err}
			}
			return nil, err
		}
		out = append(out, catalogue.Source{Name: name, URL: cfg.RecipeURL(name), Dir: o.f.Store().RecipeDir(name)})
	}
	return out, nil
}

// fromDir lists the subdirectories of dir holding a compose.yml, or only
// the named ones.
func fromDir(dir string, only []string) ([]catalogue.Source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--from-dir: %w", err)
	}
	want := map[string]bool{}
	for _, n := range only {
		want[n] = true
	}
	var out []catalogue.Source
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if !e.IsDir() || (len(want) > 0 && !want[e.Name()]) {
			continue
		}
		if _, err := os.Stat(filepath.Join(sub, "compose.yml")); err != nil {
			continue
		}
		delete(want, e.Name())
		out = append(out, catalogue.Source{Name: e.Name(), Dir: sub, InPlace: true})
	}
	if len(want) > 0 {
		return nil, command.Usagef("--from-dir %s has no recipe %s", dir, strings.Join(slices.Sorted(maps.Keys(want)), ", "))
	}
	if len(out) == 0 {
		return nil, command.Usagef("--from-dir %s holds no recipe (a subdirectory with a compose.yml)", dir)
	}
	return out, nil
}

func writeHTML(path string, c catalogue.Catalogue) error {
	var buf bytes.Buffer
	if err := catalogue.RenderHTML(&buf, c, catalogue.HTMLOptions{Title: "Recipes", Generated: time.Now().UTC().Format("2006-01-02")}); err != nil {
		return fmt.Errorf("render %s: %w", path, err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
