package appcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/secret"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

func newSecretCmd(f *command.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "secret",
		Aliases: []string{"s"},
		Short:   "Manage the app's secrets (generate, insert, rm, ls)",
		Long: `Manage an app's swarm secrets.

Recipes declare them external, named ${STACK_NAME}_<name>_${SECRET_<NAME>_VERSION}.
The env file holds each version and, as a trailing comment, how to make values:
"# length=32" (random characters, "charset=special" or "safe" to widen them),
"# generate=false" (you insert it); otherwise a passphrase of words.
To rotate: bump the version in the env file, generate, redeploy.`,
	}
	cmd.AddCommand(newSecretGenerateCmd(f), newSecretInsertCmd(f), newSecretRmCmd(f), newSecretLsCmd(f))
	return cmd
}

// loadSecrets finds the app, connects to its server and lists its secrets.
func loadSecrets(ctx context.Context, f *command.Factory, domain string, chaos bool) (*app.App, swarm.Cluster, []secret.Secret, error) {
	a, c, err := loadApp(ctx, f, domain)
	if err != nil {
		return nil, nil, nil, err
	}
	secrets, err := app.Secrets(ctx, f.Store(), c, a, chaos)
	return a, c, secrets, err
}

func pick(a *app.App, secrets []secret.Secret, name string) (secret.Secret, error) {
	if err := guard.SecretName(name); err != nil {
		return secret.Secret{}, &command.UsageError{Err: err}
	}
	var names []string
	for _, s := range secrets {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return secret.Secret{}, fmt.Errorf("%s has no secret %q (secrets: %s)", a.Domain, name, listOrNone(names))
}

type generatedView struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	DockerName string `json:"docker_name"`
	Value      string `json:"value"`
}

func newSecretGenerateCmd(f *command.Factory) *cobra.Command {
	var all, chaos, asJSON bool
	cmd := &cobra.Command{
		Use:   "generate <domain> [secret] [version] | --all",
		Short: "Generate missing secrets; values are printed once, on stdout",
		Args:  command.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 1) {
				return command.Usagef("name a secret or pass --all (one of them)")
			}
			return runSecretGenerate(cmd.Context(), f, args, all, chaos, asJSON, false)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "generate every missing secret")
	cmd.Flags().BoolVarP(&chaos, "chaos", "C", false, "read the secrets from the recipe's work tree")
	command.AddJSONFlag(cmd, &asJSON)
	return cmd
}

// runSecretGenerate generates the named secret (args[1], optionally at args[2])
// or, with all, every missing one, and prints the values once. With
// allOrNothing, a failure removes the secrets this call made and prints no
// values.
func runSecretGenerate(ctx context.Context, f *command.Factory, args []string, all, chaos, asJSON, allOrNothing bool) error {
	a, c, secrets, err := loadSecrets(ctx, f, args[0], chaos)
	if err != nil {
		return err
	}
	todo := secrets
	if !all {
		s, err := pick(a, secrets, args[1])
		if err != nil {
			return err
		}
		if len(args) == 3 {
			if err := guard.Version(args[2]); err != nil {
				return &command.UsageError{Err: err}
			}
			s.Version = args[2]
			s.DockerName = strings.TrimSuffix(s.DockerName, "_"+secretsVersion(secrets, s.Name)) + "_" + args[2]
			s.Exists = false
		}
		todo = []secret.Secret{s}
	}
	var made []generatedView
	var created []secret.Secret
	var errs []error
	for _, s := range todo {
		switch {
		case s.Exists && all:
			continue
		case !s.Generate:
			fmt.Fprintf(f.IO.Err, "skipping %s: generate=false, insert it with 'abra app secret insert %s %s %s <value>'\n", s.Name, a.Domain, s.Name, s.Version)
			continue
		}
		value, err := secret.Value(s)
		if err == nil {
			err = secret.Create(ctx, c, a.StackName(), s, value)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name, err))
			continue
		}
		made = append(made, generatedView{Name: s.Name, Version: s.Version, DockerName: s.DockerName, Value: value})
		created = append(created, s)
	}
	if allOrNothing && len(errs) > 0 {
		for _, s := range created {
			if err := secret.Remove(ctx, c, s); err != nil {
				errs = append(errs, fmt.Errorf("remove %s again: %w", s.DockerName, err))
			}
		}
		return errors.Join(errs...)
	}
	if asJSON {
		if made == nil {
			made = []generatedView{}
		}
		if err := ui.JSON(f.IO, made); err != nil {
			return err
		}
	} else if len(made) > 0 {
		rows := [][]string{}
		for _, m := range made {
			rows = append(rows, []string{m.Name, m.Version, m.Value})
		}
		if err := ui.Table(f.IO, []string{"name", "version", "value"}, rows); err != nil {
			return err
		}
		fmt.Fprintln(f.IO.Err, "these values are shown once and stored only on the server: keep them somewhere safe")
	} else {
		fmt.Fprintf(f.IO.Err, "%s: no secrets to generate\n", a.Domain)
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		if len(made) > 0 {
			return fmt.Errorf("%w: %w", command.ErrPartial, err)
		}
		return err
	}
	return nil

}

func secretsVersion(secrets []secret.Secret, name string) string {
	for _, s := range secrets {
		if s.Name == name {
			return s.Version
		}
	}
	return ""
}

func newSecretInsertCmd(f *command.Factory) *cobra.Command {
	var file string
	var trim, chaos bool
	cmd := &cobra.Command{
		Use:   "insert <domain> <secret> <version> [value]",
		Short: "Store a value you provide as a secret (from the argument, --file, or stdin)",
		Args:  command.RangeArgs(3, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var value string
			switch {
			case len(args) == 4 && file != "":
				return command.Usagef("give the value as an argument or with --file, not both")
			case len(args) == 4:
				value = args[3]
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				value = string(b)
			case !isTerminal(f.IO.In):
				b, err := io.ReadAll(f.IO.In)
				if err != nil {
					return err
				}
				value = string(b)
			default:
				return command.Usagef("give the value as an argument, with --file, or on stdin")
			}
			if trim {
				value = strings.TrimSpace(value)
			}
			if value == "" {
				return command.Usagef("the value is empty")
			}
			a, c, secrets, err := loadSecrets(ctx, f, args[0], chaos)
			if err != nil {
				return err
			}
			s, err := pick(a, secrets, args[1])
			if err != nil {
				return err
			}
			if err := guard.Version(args[2]); err != nil {
				return &command.UsageError{Err: err}
			}
			s.DockerName = strings.TrimSuffix(s.DockerName, "_"+s.Version) + "_" + args[2]
			s.Version = args[2]
			if err := secret.Create(ctx, c, a.StackName(), s, value); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Err, "secret %s stored as %s\n", s.Name, s.DockerName)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "read the value from this file")
	cmd.Flags().BoolVar(&trim, "trim", false, "strip surrounding white space (a trailing newline, say)")
	cmd.Flags().BoolVarP(&chaos, "chaos", "C", false, "read the secrets from the recipe's work tree")
	return cmd
}

func newSecretRmCmd(f *command.Factory) *cobra.Command {
	var all, force, chaos bool
	cmd := &cobra.Command{
		Use:   "rm <domain> [secret] | --all",
		Short: "Delete the app's secrets from the server",
		Args:  command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 2) {
				return command.Usagef("name a secret or pass --all (one of them)")
			}
			ctx := cmd.Context()
			a, c, secrets, err := loadSecrets(ctx, f, args[0], chaos)
			if err != nil {
				return err
			}
			var todo []secret.Secret
			for _, s := range secrets {
				if s.Exists && (all || s.Name == args[1]) {
					todo = append(todo, s)
				}
			}
			if !all && len(todo) == 0 {
				if _, err := pick(a, secrets, args[1]); err != nil {
					return err
				}
				return fmt.Errorf("secret %s of %s does not exist on the server", args[1], a.Domain)
			}
			if len(todo) == 0 {
				fmt.Fprintf(f.IO.Err, "%s has no secrets on the server\n", a.Domain)
				return nil
			}
			if !force {
				var names []string
				for _, s := range todo {
					names = append(names, s.DockerName)
				}
				fmt.Fprintf(f.IO.Err, "deleting for good: %s\n", strings.Join(names, ", "))
				ok, err := f.Confirm("delete these secrets", "--force")
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("nothing deleted")
				}
			}
			for _, s := range todo {
				if err := secret.Remove(ctx, c, s); err != nil {
					return err
				}
				fmt.Fprintf(f.IO.Err, "removed %s\n", s.DockerName)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "delete every secret of the app")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "delete without asking")
	cmd.Flags().BoolVarP(&chaos, "chaos", "C", false, "read the secrets from the recipe's work tree")
	return cmd
}

func newSecretLsCmd(f *command.Factory) *cobra.Command {
	var asJSON, chaos bool
	cmd := &cobra.Command{
		Use:   "ls <domain>",
		Short: "List the app's secrets: version, Docker name, policy, whether it exists on the server",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, secrets, err := loadSecrets(cmd.Context(), f, args[0], chaos)
			if err != nil {
				return err
			}
			if asJSON {
				if secrets == nil {
					secrets = []secret.Secret{}
				}
				return ui.JSON(f.IO, secrets)
			}
			rows := [][]string{}
			for _, s := range secrets {
				rows = append(rows, []string{s.Name, s.Version, s.DockerName, s.Policy(), fmt.Sprint(s.Exists)})
			}
			return ui.Table(f.IO, []string{"name", "version", "docker name", "generated as", "exists"}, rows)
		},
	}
	cmd.Flags().BoolVarP(&chaos, "chaos", "C", false, "read the secrets from the recipe's work tree")
	command.AddJSONFlag(cmd, &asJSON)
	return cmd
}
