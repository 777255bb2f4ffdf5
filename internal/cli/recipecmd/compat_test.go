package recipecmd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/recipe"
)

func TestReleaseAbraFlags(t *testing.T) {
	for _, tc := range []struct {
		name            string
		args            []string
		publish, dryRun bool
		step            recipe.Bump
	}{
		{"p is publish", []string{"-p"}, true, false, recipe.BumpNone},
		{"P still publishes", []string{"-P"}, true, false, recipe.BumpNone},
		{"r is dry-run", []string{"-r"}, false, true, recipe.BumpNone},
		{"x is major", []string{"-x"}, false, false, recipe.BumpMajor},
		{"y is minor", []string{"--minor"}, false, false, recipe.BumpMinor},
		{"z is patch with publish", []string{"-z", "--publish"}, true, false, recipe.BumpPatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *releaseOptions
			cmd := newReleaseCmd(&command.Factory{}, func(_ context.Context, o *releaseOptions) error { got = o; return nil })
			if err := execute(t, cmd, append([]string{"myapp"}, tc.args...)...); err != nil {
				t.Fatal(err)
			}
			if got.opts.Publish != tc.publish || got.opts.DryRun != tc.dryRun || got.step != tc.step {
				t.Errorf("publish %v dry-run %v step %v, want %v %v %v", got.opts.Publish, got.opts.DryRun, got.step, tc.publish, tc.dryRun, tc.step)
			}
		})
	}
}

func TestBumpFlagsExcludeEachOtherAndAVersion(t *testing.T) {
	for _, args := range [][]string{{"-x", "-y"}, {"1.0.0+1", "-z"}} {
		cmd := newSyncCmd(&command.Factory{}, func(context.Context, *syncOptions) error { return nil })
		err := execute(t, cmd, append([]string{"myapp"}, args...)...)
		var usage *command.UsageError
		if !errors.As(err, &usage) {
			t.Errorf("sync %v: err = %v, want a usage error", args, err)
		}
	}
}

func TestSyncAndReleaseBumpFromTheLatestRelease(t *testing.T) {
	f, out, errb, _ := maintainerEnv(t)
	// No release yet: -y steps from 0.0.0.
	if err := execute(t, newSyncCmd(f, nil), "myapp", "-y"); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "0.1.0+1.2.0" {
		t.Fatalf("sync -y printed %q, want 0.1.0+1.2.0", got)
	}
	out.Reset()
	if err := execute(t, newReleaseCmd(f, nil), "myapp", "--note", "First."); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	// Nothing changed since 0.1.0, yet -x asks for the next major.
	if err := execute(t, newSyncCmd(f, nil), "myapp", "-x"); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "1.0.0+1.2.0" {
		t.Errorf("sync -x printed %q, want 1.0.0+1.2.0", got)
	}
	errb.Reset()
	if err := execute(t, newReleaseCmd(f, nil), "myapp", "-z", "-r"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "release 0.1.1+1.2.0 (dry run") {
		t.Errorf("release -z -r said %q, want a dry run of 0.1.1+1.2.0", errb)
	}
}
