package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	abraupdate "coopcloud.tech/abra/internal/update"
)

// addRelease publishes 1.1.0+1.26 of the fixture's web recipe.
func addRelease(t *testing.T, fx *fixture, extraLabel string) {
	t.Helper()
	repo := filepath.Join(fx.dir, "recipes", "web")
	compose := strings.ReplaceAll(webCompose, "nginx:1.25", "nginx:1.26")
	compose = strings.ReplaceAll(compose, "1.0.0+1.25", "1.1.0+1.26")
	if extraLabel != "" {
		compose = strings.ReplaceAll(compose, "      labels:\n", "      labels:\n        - \""+extraLabel+"\"\n")
	}
	write(t, filepath.Join(repo, "compose.yml"), compose)
	git(t, repo, "commit", "-qam", "1.1.0")
	git(t, repo, "tag", "-a", "1.1.0+1.26", "-m", "1.1.0+1.26")
}

func TestUpgradeIsRecordedAndAFailedOneQuarantined(t *testing.T) {
	fx := newFixture(t)
	addRelease(t, fx, "coop-cloud.${STACK_NAME}.timeout=1")
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "1.0.0+1.25", "-n"); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
	fx.cluster.FailUpdates()
	code, _, stderr := fx.run(t, "app", "upgrade", "app.example.org", "-n")
	if code != ExitNotConverged || !strings.Contains(stderr, "1.1.0+1.26 is quarantined") || !strings.Contains(stderr, "abra app history app.example.org") {
		t.Fatalf("failed upgrade: exit %d\n%s", code, stderr)
	}
	code, stdout, _ := fx.run(t, "app", "history", "app.example.org", "--json")
	var ops []abraupdate.Record
	if err := json.Unmarshal([]byte(stdout), &ops); code != ExitOK || err != nil || len(ops) != 1 {
		t.Fatalf("history: exit %d %v\n%s", code, err, stdout)
	}
	if op := ops[0]; op.State != abraupdate.RolledBack || op.From != "1.0.0+1.25" || op.To != "1.1.0+1.26" || op.Trigger != "cli" || op.Error == "" {
		t.Fatalf("history record: %+v", op)
	}
	code, stdout, _ = fx.run(t, "app", "quarantine", "app.example.org", "--json")
	if code != ExitOK || !strings.Contains(stdout, `"version": "1.1.0+1.26"`) {
		t.Fatalf("quarantine: exit %d\n%s", code, stdout)
	}
	if code, _, stderr = fx.run(t, "app", "quarantine", "app.example.org", "--clear", "1.1.0+1.26"); code != ExitOK || !strings.Contains(stderr, "no longer quarantined") {
		t.Fatalf("quarantine --clear: exit %d\n%s", code, stderr)
	}
	if code, _, stderr = fx.run(t, "app", "quarantine", "app.example.org", "--clear"); code == ExitOK || !strings.Contains(stderr, "nothing to clear") {
		t.Fatalf("clearing an empty quarantine: exit %d\n%s", code, stderr)
	}
}

func TestDeployRefusesToDowngradeWhatTheServerRuns(t *testing.T) {
	fx := newFixture(t)
	addRelease(t, fx, "")
	envPath := filepath.Join(fx.dir, "servers", "default", "app.example.org.env")
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "1.0.0+1.25", "-n"); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
	// Another abra (the update agent, or a colleague) upgrades the app; this
	// machine's env file still pins 1.0.0.
	other := *fx
	other.dir = t.TempDir()
	if err := os.CopyFS(other.dir, os.DirFS(fx.dir)); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := other.run(t, "app", "upgrade", "app.example.org", "-n"); code != ExitOK {
		t.Fatalf("upgrade elsewhere: exit %d\n%s", code, stderr)
	}
	code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n")
	if code == ExitOK || !strings.Contains(stderr, "downgrade") || !strings.Contains(stderr, "runs 1.1.0+1.26") || !strings.Contains(stderr, "abra app sync app.example.org") {
		t.Fatalf("deploying a stale pin: exit %d\n%s", code, stderr)
	}
	services, _ := fx.cluster.Services(context.Background(), "app_example_org")
	if img := services[0].Spec.TaskTemplate.ContainerSpec.Image; img != "nginx:1.26" {
		t.Fatalf("the refused deploy changed the app: %s", img)
	}
	if code, _, stderr = fx.run(t, "app", "sync", "app.example.org"); code != ExitOK || !strings.Contains(stderr, "now pins 1.1.0+1.26") {
		t.Fatalf("sync: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(envPath); !strings.Contains(string(b), "TYPE=web:1.1.0+1.26\n") {
		t.Fatalf("env file after sync:\n%s", b)
	}
	if code, _, stderr = fx.run(t, "app", "deploy", "app.example.org", "-n"); code == ExitOK || !strings.Contains(stderr, "already deployed") {
		t.Fatalf("after sync the pin is what runs: exit %d\n%s", code, stderr)
	}
}

func TestDeployRefusesAnUnknownPolicyValue(t *testing.T) {
	fx := newFixture(t)
	envPath := filepath.Join(fx.dir, "servers", "default", "app.example.org.env")
	write(t, envPath, "TYPE=web\nDOMAIN=app.example.org\nGREETING=hi\nENABLE_AUTO_UPDATE=true\nAUTO_UPDATE_WINDOW=sometimes\n")
	code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n")
	if code == ExitOK || !strings.Contains(stderr, envPath+":5: AUTO_UPDATE_WINDOW=\"sometimes\"") {
		t.Fatalf("unknown policy value: exit %d\n%s", code, stderr)
	}
	if services, _ := fx.cluster.Services(context.Background(), "app_example_org"); len(services) != 0 {
		t.Fatalf("a refused deploy created services")
	}
	write(t, envPath, "TYPE=web\nDOMAIN=app.example.org\nGREETING=hi\nENABLE_AUTO_UPDATE=true\nAUTO_UPDATE_WINDOW=Mon-Fri 02:00-05:00\nAUTO_UPDATE_POLICY=patch\n")
	if code, _, stderr = fx.run(t, "app", "deploy", "app.example.org", "-n"); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
	services, _ := fx.cluster.Services(context.Background(), "app_example_org")
	for k, want := range map[string]string{
		"coop-cloud.app_example_org.autoupdate":        "true",
		"coop-cloud.app_example_org.autoupdate.window": "Mon-Fri 02:00-05:00",
		"coop-cloud.app_example_org.autoupdate.policy": "patch",
	} {
		if got := services[0].Spec.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
}

func TestUpgradeRefusedBeforeApplyChangesNothing(t *testing.T) {
	fx := newFixture(t)
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "1.0.0+1.25", "-n"); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
	// 1.1.0 has no service named "app": lint refuses it before anything is applied.
	repo := filepath.Join(fx.dir, "recipes", "web")
	compose := strings.ReplaceAll(strings.ReplaceAll(webCompose, "1.0.0+1.25", "1.1.0+1.26"), "  app:\n", "  web:\n")
	write(t, filepath.Join(repo, "compose.yml"), compose)
	git(t, repo, "commit", "-qam", "1.1.0")
	git(t, repo, "tag", "-a", "1.1.0+1.26", "-m", "1.1.0+1.26")
	calls := len(fx.cluster.Calls)
	code, _, stderr := fx.run(t, "app", "upgrade", "app.example.org", "-n")
	if code == ExitOK || !strings.Contains(stderr, "lint") {
		t.Fatalf("upgrade to a release lint refuses: exit %d\n%s", code, stderr)
	}
	for _, c := range fx.cluster.Calls[calls:] {
		if strings.Contains(c, "service") {
			t.Errorf("a refused upgrade touched a service: %s", c)
		}
	}
	_, stdout, _ := fx.run(t, "app", "history", "app.example.org", "--json")
	var ops []abraupdate.Record
	if err := json.Unmarshal([]byte(stdout), &ops); err != nil || len(ops) != 1 || ops[0].State != abraupdate.Abandoned || ops[0].Step != "lint recipe" {
		t.Fatalf("history: %v %+v", err, ops)
	}
	if _, stdout, _ = fx.run(t, "app", "quarantine", "app.example.org", "--json"); strings.TrimSpace(stdout) != "[]" {
		t.Fatalf("a release refused before apply must not be quarantined: %s", stdout)
	}
}
