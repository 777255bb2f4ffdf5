package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/catalogue"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/secret"
)

// Dynamic completion (abra __complete …, driven by the scripts of 'abra
// autocomplete <shell>') reads $ABRA_DIR only: env files, server
// directories, recipe clones and the local catalogue clone. It never
// reaches a server or a git remote, so a tab press is fast and works
// offline. Whatever fails while completing gives no candidates and no
// message on stdout.

// shells are the shells 'abra autocomplete' writes scripts for.
var shells = []string{"bash", "zsh", "fish", "powershell"}

// addCompletion adds 'abra autocomplete <shell>' (aliases ac, as abra's, and
// completion, cobra's name) and gives every command completion of its
// positional names, read from the placeholders of its Use line, and of its
// name flags.
func addCompletion(root *cobra.Command, f *command.Factory) {
	root.AddCommand(newAutocompleteCmd())
	c := completer{f: f}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
		if cmd.ValidArgsFunction == nil && len(cmd.ValidArgs) == 0 {
			if places := completionPlaces(cmd.Use); len(places) > 0 {
				cmd.ValidArgsFunction = safe(func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
					return c.positional(cmd, places, args, toComplete)
				})
			}
		}
		for _, name := range []string{"server", "domain", "recipe"} {
			// Before Execute, Flags holds only the command's own flags.
			fl := cmd.Flags().Lookup(name)
			if fl == nil || fl.Value.Type() != "string" {
				continue
			}
			if _, ok := cmd.GetFlagCompletionFunc(name); ok {
				continue
			}
			kind := name
			if newName[cmd.CommandPath()+" --"+name] {
				kind = ""
			}
			_ = cmd.RegisterFlagCompletionFunc(name, safe(func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return c.names(cmd, kind, args, nil, toComplete)
			}))
		}
	}
	walk(root)
}

// newName lists the names that a command creates ("<command path> <placeholder>",
// or "--flag"): completing existing ones there would only suggest a clash.
var newName = map[string]bool{
	"abra app new --domain":       true,
	"abra recipe new recipe":      true,
	"abra recipe release version": true,
	"abra recipe sync version":    true,
	"abra server add host":        true,
}

// place is one positional argument for completion: the kinds of names it
// may be (two for "cmd <domain> [service] <function>", whose second argument
// is a service or a function).
type place struct {
	kinds    []string
	variadic bool
}

// completionPlaces are the positions of a Use line for completion: those of
// placeholders, and past where placeholders stops (positions are ambiguous
// there, which matters to validation, not to completion) alternatives
// ("<recipe|git-url>") and an optional placeholder before a required one
// ("[service] <function>": either at that position, the required one after).
func completionPlaces(use string) []place {
	var out []place
	for _, p := range placeholders(use) {
		out = append(out, place{kinds: []string{p.name}, variadic: p.variadic})
	}
	if len(out) > 0 && out[len(out)-1].variadic {
		return out
	}
	rest := positionals(use)
	if len(out) >= len(rest) {
		return out
	}
	rest = rest[len(out):]
	name := func(f string) string { return strings.TrimRight(strings.Trim(f, "[]<>"), ".…") }
	switch {
	case strings.Contains(rest[0], "|"):
		out = append(out, place{kinds: strings.Split(name(rest[0]), "|")})
	case len(rest) >= 2 && strings.HasPrefix(rest[0], "[") && strings.HasPrefix(rest[1], "<"):
		out = append(out, place{kinds: []string{name(rest[0]), name(rest[1])}}, place{kinds: []string{name(rest[1])}})
	}
	return out
}

// safe turns a panic while completing into no candidates: a tab press must
// never print a stack trace into the operator's command line.
func safe(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) (comps []cobra.Completion, dir cobra.ShellCompDirective) {
		defer func() {
			if recover() != nil {
				comps, dir = nil, cobra.ShellCompDirectiveNoFileComp
			}
		}()
		return fn(cmd, args, toComplete)
	}
}

// completer lists names from $ABRA_DIR.
type completer struct{ f *command.Factory }

func (c completer) positional(cmd *cobra.Command, places []place, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	i := len(args)
	if i >= len(places) {
		if len(places) == 0 || !places[len(places)-1].variadic {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		i = len(places) - 1
	}
	p := places[i]
	var comps []cobra.Completion
	dir := cobra.ShellCompDirectiveNoFileComp
	for _, kind := range p.kinds {
		if newName[cmd.CommandPath()+" "+kind] {
			continue
		}
		if kind == "version" && i > 0 && slices.Contains(places[i-1].kinds, "secret") {
			kind = "secret-version"
		}
		if kind == "src" || kind == "dst" {
			return nil, cobra.ShellCompDirectiveDefault // paths on this machine
		}
		got, d := c.names(cmd, kind, args, places, toComplete)
		comps = append(comps, got...)
		dir |= d
	}
	// One name once (a recipe both cloned and in the catalogue), and a
	// variadic place does not offer the names already given.
	seen := map[string]bool{}
	if p.variadic {
		for _, a := range args[i:] {
			seen[a] = true
		}
	}
	comps = slices.DeleteFunc(comps, func(s string) bool {
		name, _, _ := strings.Cut(s, "\t")
		dup := seen[name]
		seen[name] = true
		return dup
	})
	return comps, dir
}

// names lists the candidates of one kind that start with toComplete, each
// with a description after a tab. Kinds that need the app or recipe named
// by an earlier argument find it in args.
func (c completer) names(cmd *cobra.Command, kind string, args []string, places []place, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	store := c.f.Store()
	var comps []cobra.Completion
	var err error
	dir := cobra.ShellCompDirectiveNoFileComp
	switch kind {
	case "domain":
		comps, err = domains(store)
	case "server":
		comps, err = store.Servers().List()
	case "recipe":
		comps, err = recipes(store)
	case "git-url":
		comps, err = catalogueRecipes(c.f.AbraDir)
	case "shell":
		comps = shells
	case "version":
		comps, err = c.versions(cmd, args, places)
		dir |= cobra.ShellCompDirectiveKeepOrder
	case "service", "secret", "secret-version", "function":
		comps, err = c.fromRecipe(cmd.Context(), kind, args)
	}
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return slices.DeleteFunc(comps, func(s string) bool { return !strings.HasPrefix(s, toComplete) }), dir
}

// domains lists the apps, each described by its server.
func domains(store app.Store) ([]string, error) {
	refs, err := store.Refs()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.Domain+"\t"+r.Server)
	}
	return out, nil
}

// recipes lists the local recipe clones.
func recipes(store app.Store) ([]string, error) {
	entries, err := os.ReadDir(store.RecipesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if guard.RecipeName(e.Name()) != nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join(store.RecipesDir(), e.Name())); err == nil && fi.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// catalogueRecipes lists the recipes of the local catalogue clone (the ones
// 'abra recipe fetch' can clone by name), described by what they are for.
func catalogueRecipes(abraDir string) ([]string, error) {
	cat, err := catalogue.Local{Dir: filepath.Join(abraDir, "catalogue")}.Read()
	if err != nil {
		return nil, err
	}
	var out []string
	for name, meta := range cat {
		if guard.RecipeName(name) != nil {
			continue
		}
		out = append(out, name+"\t"+strings.TrimSpace(strings.SplitN(meta.Description, "\n", 2)[0]))
	}
	slices.Sort(out)
	return out, nil
}

// versions lists the releases of the recipe named by the first argument (a
// recipe, or an app's recipe), newest first.
func (c completer) versions(cmd *cobra.Command, args []string, places []place) ([]string, error) {
	if len(args) == 0 || len(places) == 0 {
		return nil, errors.New("no recipe or app before the version")
	}
	store := c.f.Store()
	name := args[0]
	current := ""
	switch {
	case slices.Contains(places[0].kinds, "domain"):
		a, err := store.Get(args[0])
		if err != nil {
			return nil, err
		}
		name, current = a.Recipe(), a.PinnedVersion()
	case !slices.Contains(places[0].kinds, "recipe"):
		return nil, fmt.Errorf("%s: no recipe or app before the version", cmd.CommandPath())
	}
	repo, err := store.OpenRecipe(name)
	if err != nil {
		return nil, err
	}
	rels, err := repo.Versions()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rels))
	for i := len(rels) - 1; i >= 0; i-- {
		v := rels[i].Tag
		switch {
		case v == current:
			v += "\tpinned in the env file"
		case i == len(rels)-1:
			v += "\tlatest"
		}
		out = append(out, v)
	}
	return out, nil
}

// fromRecipe lists the services, secrets (or a secret's version, args[1])
// or abra.sh functions of the app named by args[0], from its recipe's clone
// at the app's pinned version, the latest release, or the work tree when
// the recipe has none: what a deploy of the app would use.
func (c completer) fromRecipe(ctx context.Context, kind string, args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, errors.New("no app")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	store := c.f.Store()
	a, err := store.Get(args[0])
	if err != nil {
		return nil, err
	}
	chaos := false
	if a.PinnedVersion() == "" {
		repo, err := store.AppRecipe(a)
		if err != nil {
			return nil, err
		}
		rels, err := repo.Versions()
		if err != nil {
			return nil, err
		}
		chaos = len(rels) == 0
	}
	src, err := store.CheckoutApp(ctx, a, a.PinnedVersion(), chaos)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if kind == "function" {
		script, err := guard.ReadFile(src.Dir, "abra.sh")
		if err != nil {
			return nil, err
		}
		return app.Functions(script), nil
	}
	loaded, err := app.LoadCompose(a, src)
	if err != nil {
		return nil, err
	}
	if kind == "service" {
		var out []string
		for _, s := range loaded.Config.Services {
			out = append(out, s.Name+"\t"+s.Image)
		}
		slices.SortFunc(out, cmp.Compare)
		return out, nil
	}
	secrets, err := secret.FromConfig(loaded.Config, a.Env)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range secrets {
		switch {
		case kind == "secret":
			out = append(out, s.Name+"\t"+s.Policy())
		case len(args) > 1 && s.Name == args[1] && s.Version != "":
			out = append(out, s.Version+"\tcurrent "+secret.VersionKey(s.Name))
		}
	}
	return out, nil
}

const autocompleteLong = `Print the script that makes your shell complete abra's commands, flags and
names: apps, servers, recipes, versions, services, secrets and abra.sh
functions, read from $ABRA_DIR (never from a server or the network).

bash (with or without Debian's bash-completion package):
  for this shell:   source <(abra autocomplete bash)
  for every shell:  abra autocomplete bash > ~/.local/share/bash-completion/completions/abra
                    (bash-completion loads it; or add the 'source' line to ~/.bashrc)
  system-wide:      abra autocomplete bash > /etc/bash_completion.d/abra

zsh:
  for this shell:   source <(abra autocomplete zsh)
  for every shell:  abra autocomplete zsh > "${fpath[1]}/_abra"
                    (with 'autoload -U compinit; compinit' in ~/.zshrc), then start a new shell

fish:
  for this shell:   abra autocomplete fish | source
  for every shell:  abra autocomplete fish > ~/.config/fish/completions/abra.fish

powershell:
  for this shell:   abra autocomplete powershell | Out-String | Invoke-Expression
  for every shell:  add that line to your profile ($PROFILE)

'abra ac <shell>' and 'abra completion <shell>' are the same command.`

// newAutocompleteCmd is 'abra autocomplete <shell>'.
func newAutocompleteCmd() *cobra.Command {
	var noDesc bool
	cmd := &cobra.Command{
		Use:     "autocomplete <shell>",
		Aliases: []string{"ac", "completion"}, // abra's alias, and cobra's name
		Short:   "Print the shell completion script (bash, zsh, fish, powershell)",
		Long:    autocompleteLong,
		Example: "  source <(abra autocomplete bash)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || !slices.Contains(shells, args[0]) {
				return &command.UsageError{Err: fmt.Errorf("want one shell of %s (see '%s --help')", strings.Join(shells, ", "), cmd.CommandPath())}
			}
			return nil
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return slices.DeleteFunc(slices.Clone(shells), func(s string) bool { return !strings.HasPrefix(s, toComplete) }),
				cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeCompletionScript(cmd.Root(), args[0], !noDesc, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&noDesc, "no-descriptions", false, "complete names only, without descriptions")
	return cmd
}

// bashWordsCall is the line of cobra's bash script that needs the
// bash-completion package; bashWordsFallback keeps it when the package is
// loaded and otherwise takes bash's own words, so that the script works on
// a machine without the package too (only "--flag=value" is then split at
// "=" and a value with ":" at the colon, as bash itself does).
const (
	bashWordsCall     = "    _get_comp_words_by_ref \"$@\" cur prev words cword\n"
	bashWordsFallback = `    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        _get_comp_words_by_ref "$@" cur prev words cword
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
    fi
`
)

func writeCompletionScript(root *cobra.Command, shell string, desc bool, w io.Writer) error {
	var b strings.Builder
	var err error
	switch shell {
	case "bash":
		err = root.GenBashCompletionV2(&b, desc)
	case "zsh":
		if desc {
			err = root.GenZshCompletion(&b)
		} else {
			err = root.GenZshCompletionNoDesc(&b)
		}
	case "fish":
		err = root.GenFishCompletion(&b, desc)
	case "powershell":
		if desc {
			err = root.GenPowerShellCompletionWithDesc(&b)
		} else {
			err = root.GenPowerShellCompletion(&b)
		}
	}
	if err != nil {
		return err
	}
	script := b.String()
	if shell == "bash" {
		script = strings.Replace(script, bashWordsCall, bashWordsFallback, 1)
	}
	_, err = io.WriteString(w, script)
	return err
}
