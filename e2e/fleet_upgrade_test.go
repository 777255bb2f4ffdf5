package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// fleetCompose is a busybox app; NEEDS is replaced per release by an
// environment line (0.2.0 needs a key without a default).
const fleetCompose = `version: "3.8"
services:
  app:
    image: abra-test/busybox:1
    command: ["sleep", "86400"]
    environment:
      - NEEDS
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=VERSION"
`

func TestFleetUpgrade(t *testing.T) {
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	dir := filepath.Join(t.TempDir(), "fleety")
	writeFile(t, filepath.Join(dir, ".env.sample"), "TYPE=fleety\nDOMAIN=fleety.example.com\n")
	run(t, dir, "git", "init", "-q", "-b", "main")
	for _, r := range []struct{ version, needs, notes string }{
		{"0.1.0+1", "A=${A:-x}", ""},
		{"0.1.1+1", "A=${A:-y}", ""},
		{"0.2.0+1", "NEWKEY=${NEWKEY}", ""},
		{"1.0.0+1", "A=${A:-z}", ""},
	} {
		c := strings.Replace(strings.Replace(fleetCompose, "VERSION", r.version, 1), "NEEDS", r.needs, 1)
		writeFile(t, filepath.Join(dir, "compose.yml"), c)
		run(t, dir, "git", "add", "-A")
		run(t, dir, "git", "commit", "-qm", r.version)
		run(t, dir, "git", "tag", "-a", r.version, "-m", r.version)
	}
	e := newEnv(t)
	apps := map[string]string{ // domain → its policy lines
		"patchy.fleet.localhost":  "AUTO_UPDATE_POLICY=patch\n",
		"minory.fleet.localhost":  "",
		"notifly.fleet.localhost": "AUTO_UPDATE_POLICY=notify\n",
	}
	t.Cleanup(func() {
		for d := range apps {
			e.abra("app", "undeploy", d)
		}
		for d := range apps {
			waitStackGone(t, strings.ReplaceAll(d, ".", "_"))
			e.abra("app", "remove", d, "--force")
		}
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "fleety", "--url", dir)
	for d, pol := range apps {
		e.mustAbra("app", "new", "fleety", "--server", "default", "--domain", d, "-n")
		envPath := filepath.Join(e.abraDir, "servers", "default", d+".env")
		writeFile(t, envPath, readFile(t, envPath)+pol)
		e.mustAbra("app", "deploy", d, "0.1.0+1", "-D", "-n")
	}

	dry := e.mustAbra("app", "upgrade", "--all", "--dry-run", "--json", "-n")
	type row struct {
		App, Current, Target, Result, Error string
		Gate                                *struct{ Code, Reason string }
	}
	var plan []row
	if err := json.Unmarshal([]byte(dry.stdout), &plan); err != nil {
		t.Fatalf("--dry-run --json: %v\n%s", err, dry.stdout)
	}
	byApp := map[string]row{}
	for _, r := range plan {
		byApp[r.App] = r
	}
	if r := byApp["patchy.fleet.localhost"]; r.Result != "planned" || r.Target != "0.1.1+1" {
		t.Errorf("patch policy: %+v, want planned 0.1.1+1", r)
	}
	if r := byApp["notifly.fleet.localhost"]; r.Result != "held" || r.Gate == nil || r.Gate.Code != "notify-only" {
		t.Errorf("notify policy: %+v, want held notify-only", r)
	}
	if r := byApp["minory.fleet.localhost"]; r.Result != "held" || r.Gate == nil || r.Gate.Code != "missing-env" {
		t.Errorf("the dry run must show the env key 0.2.0 needs: %+v", r)
	}
	for d := range apps {
		if v := serviceLabel(t, strings.ReplaceAll(d, ".", "_")+"_app", "coop-cloud."+strings.ReplaceAll(d, ".", "_")+".version"); v != "0.1.0+1" {
			t.Fatalf("--dry-run changed %s: %s", d, v)
		}
	}

	r := e.abra("app", "upgrade", "--all", "--json", "-n")
	var got []row
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("upgrade --all --json: %v\n%s", err, r)
	}
	byApp = map[string]row{}
	for _, x := range got {
		byApp[x.App] = x
	}
	if x := byApp["patchy.fleet.localhost"]; x.Result != "succeeded" || x.Target != "0.1.1+1" {
		t.Errorf("patchy: %+v", x)
	}
	if x := byApp["minory.fleet.localhost"]; x.Result != "held" || x.Gate == nil || x.Gate.Code != "missing-env" || !strings.Contains(x.Gate.Reason, "NEWKEY") {
		t.Errorf("minory must be held for the env key 0.2.0 needs: %+v", x)
	}
	if r.code != 0 {
		t.Errorf("held apps are not failures: %s", r)
	}
	for d, want := range map[string]string{"patchy.fleet.localhost": "0.1.1+1", "minory.fleet.localhost": "0.1.0+1", "notifly.fleet.localhost": "0.1.0+1"} {
		st := strings.ReplaceAll(d, ".", "_")
		if v := serviceLabel(t, st+"_app", "coop-cloud."+st+".version"); v != want {
			t.Errorf("%s runs %s, want %s", d, v, want)
		}
	}
	ops := history(t, e, "patchy.fleet.localhost")
	if len(ops) == 0 || ops[0].State != "succeeded" || ops[0].Trigger != "fleet" || ops[0].From != "0.1.0+1" {
		t.Errorf("patchy's history: %+v", ops)
	}
}
