package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

// TestLockMessagesSpeakTheOperatorsLanguage: 'abra app lock' prints its
// messages from the catalogue in the Factory's language (LANG=de_DE.UTF-8
// gives German); --json stays the same in every language.
func TestLockMessagesSpeakTheOperatorsLanguage(t *testing.T) {
	fx := newFixture(t)
	run := func(lang string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: fx.dir, Lang: lang,
			Connect: func(context.Context, string) (swarm.Cluster, error) { return fx.cluster, nil }}
		if code := Run(context.Background(), f, args); code != 0 {
			t.Fatalf("abra %v: exit %d\n%s", args, code, errb.String())
		}
		return out.String()
	}
	if got := run("de", "app", "lock", "app.example.org"); got != "app.example.org: nicht gesperrt\n" {
		t.Fatalf("German, unlocked: %q", got)
	}
	if got := run("", "app", "lock", "app.example.org"); got != "app.example.org: not locked\n" {
		t.Fatalf("English, unlocked: %q", got)
	}
	if _, err := app.Lock(context.Background(), fx.cluster, "app_example_org", "bob@elsewhere pid 7", time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if got := run("de", "app", "lock", "app.example.org"); !strings.HasPrefix(got, "app.example.org: gesperrt von bob@elsewhere pid 7 seit ") {
		t.Fatalf("German, locked: %q", got)
	}
	if de, en := run("de", "app", "lock", "app.example.org", "--json"), run("en", "app", "lock", "app.example.org", "--json"); de != en {
		t.Fatalf("--json differs by language:\n%s\n%s", de, en)
	}
	if lang := (&command.Factory{}).Lang; lang != "" {
		t.Fatalf("a Factory's zero language %q, want English", lang)
	}
}
