package appcmd

import (
	"bytes"
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
To rotate: bump the version in the env file, generate, redeploy.

With --pass, generate (and app new --secrets) also store each value in your
own password store (pass), as hosts/<server>/<domain>/<secret>, and rm
removes that entry again.`,
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
	var all, chaos, asJSON, pass bool
	cmd := &cobra.Command{
		Use:     "generate <domain> [[secret] [version] | --all]",
		Aliases: []string{"gen", "g"},
		Short:   "Generate missing secrets; values are printed once, on stdout",
		Example: "  abra app secret generate blog.example.org --all\n  abra app secret generate blog.example.org db_password v2 --pass",
		Args:    command.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 1) {
				return command.Usagef("name a secret or pass --all (one of them)")
			}
			return runSecretGenerate(cmd.Context(), f, args, generateFlags{all: all, chaos: chaos, asJSON: asJSON, pass: pass})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "generate every missing secret")
	cmd.Flags().BoolVarP(&chaos, "chaos", "C", false, "read the secrets from the recipe's work tree")
	cmd.Flags().BoolVarP(&pass, "pass", "P", false, "also store the values in your password store (pass)")
	command.AddJSONFlag(cmd, &asJSON)
	return cmd
}

// generateFlags say how runSecretGenerate works. With allOrNothing, a failure
// removes the secrets (and pass entries) this call made and prints no values.
type generateFlags struct {
	all, chaos, asJSON, pass, allOrNothing bool
}

// runSecretGenerate generates the named secret (args[1], optionally at args[2])
// or, with all, every missing one, and prints the values once. With pass, a
// secret whose value cannot be stored in the password store is removed from
// the server again: a value nobody can read back is not left behind.
func runSecretGenerate(ctx context.Context, f *command.Factory, args []string, o generateFlags) error {
	all, asJSON, allOrNothing := o.all, o.asJSON, o.allOrNothing
	a, c, secrets, err := loadSecrets(ctx, f, args[0], o.chaos)
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
	var inPass []string
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
		if o.pass {
			name := secret.PassName(a.Server, a.Domain, s.Name)
			if err := f.PassStore().Insert(ctx, name, []byte(value)); err != nil {
				errs = append(errs, fmt.Errorf("%s: store in pass: %w", s.Name, err))
				if err := secret.Remove(ctx, c, s); err != nil {
					errs = append(errs, fmt.Errorf("remove %s again: %w", s.DockerName, err))
				}
				continue
			}
			inPass = append(inPass, name)
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
		for _, name := range inPass {
			if err := f.PassStore().Remove(ctx, name); err != nil {
				errs = append(errs, fmt.Errorf("remove pass entry %s again: %w", name, err))
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
		if o.pass {
			fmt.Fprintf(f.IO.Err, "these values are shown once; a copy is in your password store under %s\n", secret.PassName(a.Server, a.Domain, ""))
		} else {
			fmt.Fprintln(f.IO.Err, "these values are shown once and stored only on the server: keep them somewhere safe")
		}
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
	var file, trim, chaos bool
	cmd := &cobra.Command{
		Use:     "insert <domain> <secret> <version> [<data>]",
		Aliases: []string{"i"},
		Short:   "Store a value you provide as a secret (from <data>, the file <data> names with -f, or stdin)",
		Long: `Store a value you provide as a secret of the app.

<data> is the value itself; with -f/--file it is the path of a file whose
content is the value (a certificate, a key), stored byte for byte. Without
<data> the value is read from stdin. Nothing is trimmed unless -t/--trim.`,
		Example: "  abra app secret insert blog.example.org smtp_password v1 'hunter2'\n" +
			"  abra app secret insert blog.example.org ssl_cert v1 ./cert.pem -f\n" +
			"  pass show mail/smtp | abra app secret insert blog.example.org smtp_password v1 --trim",
		Args: command.RangeArgs(3, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var value []byte
			switch {
			case len(args) == 4 && file:
				b, err := os.ReadFile(args[3])
				if err != nil {
					return fmt.Errorf("read the value of %s from file %s: %w", args[1], args[3], err)
				}
				value = b
			case len(args) == 4:
				value = []byte(args[3])
			case file:
				return command.Usagef("-f/--file needs <data>: the path of the file holding the value")
			case !isTerminal(f.IO.In):
				b, err := io.ReadAll(f.IO.In)
				if err != nil {
					return err
				}
				value = b
			default:
				return command.Usagef("give the value as <data>, a file with <data> -f, or on stdin")
			}
			if trim {
				value = bytes.TrimSpace(value)
			}
			if len(value) == 0 {
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
			if err := secret.Create(ctx, c, a.StackName(), s, string(value)); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Err, "secret %s stored as %s\n", s.Name, s.DockerName)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&file, "file", "f", false, "<data> is the path of a file whose content is the value")
	cmd.Flags().BoolVarP(&trim, "trim", "t", false, "strip surrounding white space (a trailing newline, say)")
	cmd.Flags().BoolVarP(&chaos, "chaos", "C", false, "read the secrets from the recipe's work tree")
	return cmd
}

func newSecretRmCmd(f *command.Factory) *cobra.Command {
	var all, force, chaos, pass bool
	cmd := &cobra.Command{
		Use:     "rm <domain> [[secret] | --all]",
		Aliases: []string{"remove", "delete"},
		Short:   "Delete the app's secrets from the server (and, with --pass, from your password store)",
		Args:    command.RangeArgs(1, 2),
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
				if !pass {
					continue
				}
				name := secret.PassName(a.Server, a.Domain, s.Name)
				switch err := f.PassStore().Remove(ctx, name); {
				case errors.Is(err, secret.ErrNoPassEntry):
					fmt.Fprintf(f.IO.Err, "no pass entry %s to remove\n", name)
				case err != nil:
					return fmt.Errorf("remove pass entry of %s: %w", s.Name, err)
				default:
					fmt.Fprintf(f.IO.Err, "removed pass entry %s\n", name)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "delete every secret of the app")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "delete without asking")
	cmd.Flags().BoolVarP(&chaos, "chaos", "C", false, "read the secrets from the recipe's work tree")
	cmd.Flags().BoolVarP(&pass, "pass", "P", false, "also remove the entries from your password store (pass)")
	return cmd
}

func newSecretLsCmd(f *command.Factory) *cobra.Command {
	var asJSON, chaos bool
	cmd := &cobra.Command{
		Use:     "ls <domain>",
		Aliases: []string{"list"},
		Short:   "List the app's secrets: version, Docker name, policy, whether it exists on the server",
		Args:    command.ExactArgs(1),
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
