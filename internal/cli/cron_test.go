package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jobCompose is the web recipe with a scheduled job whose schedule the app's
// env file sets.
const jobCompose = webCompose + `  dump:
    image: busybox:1.36
    command: ["sh", "-c", "echo dumped"]
    deploy:
      mode: replicated
      replicas: 0
      restart_policy:
        condition: none
      labels:
        - "swarm.cronjob.enable=true"
        - "swarm.cronjob.schedule=${DUMP_SCHEDULE:-0 3 * * *}"
`

func addJobRelease(t *testing.T, fx *fixture) {
	t.Helper()
	repo := filepath.Join(fx.dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), strings.ReplaceAll(jobCompose, "1.0.0+1.25", "1.1.0+1.25"))
	write(t, filepath.Join(repo, ".env.sample"), "TYPE=web\nDOMAIN=web.example.com\nGREETING=hi\n#DUMP_SCHEDULE=0 3 * * *\n")
	git(t, repo, "commit", "-qam", "a dump job")
	git(t, repo, "tag", "-a", "1.1.0+1.25", "-m", "1.1.0+1.25")
}

func TestDeployRefusesAnUnparsableScheduleFromTheEnvFile(t *testing.T) {
	fx := newFixture(t)
	addJobRelease(t, fx)
	envPath := filepath.Join(fx.dir, "servers", "default", "app.example.org.env")
	write(t, envPath, "TYPE=web\nDOMAIN=app.example.org\nGREETING=hi\nDUMP_SCHEDULE=every night\n")
	code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n")
	if code == ExitOK || !strings.Contains(stderr, envPath+`:4: DUMP_SCHEDULE="every night": swarm.cronjob.schedule of service dump:`) ||
		!strings.Contains(stderr, "abra app config app.example.org") {
		t.Fatalf("an unparsable schedule: exit %d\n%s", code, stderr)
	}
	if services, _ := fx.cluster.Services(context.Background(), "app_example_org"); len(services) != 0 {
		t.Fatalf("a refused deploy created services")
	}
	write(t, envPath, "TYPE=web\nDOMAIN=app.example.org\nGREETING=hi\nDUMP_SCHEDULE=@every 6h\n")
	if code, _, stderr = fx.run(t, "app", "deploy", "app.example.org", "-n"); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
}

func TestCronRunAndAppRemoveForgetsTheRuns(t *testing.T) {
	fx := newFixture(t)
	addJobRelease(t, fx)
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n"); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if fx.cluster.EndTasks("app_example_org_dump", 0) > 0 {
				return
			}
		}
	}()
	code, stdout, stderr := fx.run(t, "app", "cron", "run", "app.example.org", "dump")
	if code != ExitOK || !strings.Contains(stdout, "succeeded (exit 0)") {
		t.Fatalf("cron run: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = fx.run(t, "app", "cron", "history", "app.example.org", "--json")
	var runs []map[string]any
	if err := json.Unmarshal([]byte(stdout), &runs); code != ExitOK || err != nil || len(runs) != 1 || runs[0]["state"] != "succeeded" {
		t.Fatalf("cron history: exit %d %v\n%s", code, err, stdout)
	}
	if code, _, stderr = fx.run(t, "app", "undeploy", "app.example.org", "-n"); code != ExitOK {
		t.Fatalf("undeploy: exit %d\n%s", code, stderr)
	}
	if code, _, stderr = fx.run(t, "app", "remove", "app.example.org", "--force"); code != ExitOK {
		t.Fatalf("remove: exit %d\n%s", code, stderr)
	}
	configs, _ := fx.cluster.Configs(context.Background(), "")
	for _, c := range configs {
		if strings.HasPrefix(c.Name, "abra-cron.") {
			t.Errorf("a job run of the removed app is left: %s", c.Name)
		}
	}
}
