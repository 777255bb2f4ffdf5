package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
)

// nameChecks are the guard checks for the placeholders of commands' Use
// lines (<domain>, [version], …) and for the flags that take names. Domains
// are looked up case-insensitively, so the check is of the lowercase form.
var nameChecks = map[string]func(string) error{
	"domain":   func(s string) error { return guard.Domain(strings.ToLower(s)) },
	"server":   guard.ServerName,
	"host":     guard.ServerName,
	"recipe":   recipeArg,
	"version":  guard.Version,
	"service":  guard.ServiceName,
	"secret":   guard.SecretName,
	"snapshot": guard.SnapshotID,
}

// checkNames runs, before any command does anything, the guard check that
// fits each positional argument (by the placeholder at its place in the
// command's Use line) and each name-taking flag that was set: a bad name is a
// usage error (exit 2) before a file is read or a server reached.
func checkNames(cmd *cobra.Command, args []string) error {
	for _, name := range []string{"server", "domain", "recipe", "snapshot"} {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed && fl.Value.Type() == "string" {
			if err := nameChecks[name](fl.Value.String()); err != nil {
				return &command.UsageError{Err: fmt.Errorf("--%s: %w", name, err)}
			}
		}
	}
	places := placeholders(cmd.Use)
	for i, arg := range args {
		if i >= len(places) {
			break
		}
		p := places[i]
		check := nameChecks[p.name]
		if check == nil {
			continue
		}
		values := []string{arg}
		if p.variadic {
			values = args[i:]
		}
		for _, v := range values {
			if err := check(v); err != nil {
				if p.name == "host" {
					err = hint.With(err, "for this machine's Docker, run 'abra server add --local'")
				}
				return &command.UsageError{Err: err}
			}
		}
		if p.variadic {
			break
		}
	}
	return nil
}

// recipeArg checks a recipe argument: a recipe name, or a git URL naming a
// recipe outside the catalogue.
func recipeArg(s string) error {
	if _, _, isURL, err := guard.RecipeURL(s); isURL {
		return err
	}
	return guard.RecipeName(s)
}

// positionals are the words of a Use line after the command's name that
// stand for arguments: flags ("--server <server>", "[--json]") are left out,
// and the list ends at a "|" between alternative forms or at "--".
func positionals(use string) []string {
	fields := strings.Fields(use)
	var out []string
	for i := 1; i < len(fields); i++ {
		f := fields[i]
		if f == "|" || f == "--" || f == "[--]" || f == "[--" {
			break
		}
		if strings.HasPrefix(f, "-") || strings.HasPrefix(f, "[-") {
			if i+1 < len(fields) && strings.HasPrefix(fields[i+1], "<") {
				i++ // the flag's value
			}
			continue
		}
		out = append(out, f)
	}
	return out
}

type placeholder struct {
	name     string
	variadic bool
}

// placeholders reads the positional placeholders of a Use line, in order:
// "deploy <domain> [version]" → domain, version. It stops where positions
// become ambiguous: at alternatives ("|"), at "--", and at an optional
// placeholder followed by a required one ("cmd <domain> [service]
// <function>": is the second argument the service or the function?).
func placeholders(use string) []placeholder {
	fields := positionals(use)
	var out []placeholder
	for i, f := range fields {
		if strings.Contains(f, "|") {
			break
		}
		optional := strings.HasPrefix(f, "[")
		name := strings.Trim(f, "[]<>")
		variadic := strings.HasSuffix(name, "...") || strings.HasSuffix(name, "…")
		name = strings.TrimRight(name, ".…")
		if optional && i+1 < len(fields) && strings.HasPrefix(fields[i+1], "<") {
			break
		}
		out = append(out, placeholder{name: name, variadic: variadic})
		if variadic {
			break
		}
	}
	return out
}
