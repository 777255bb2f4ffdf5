package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cronCompose is the "crontest" recipe: an app that idles, and three jobs on
// the locally built busybox: tick (its schedule from the env file), long (a
// 15 s job) and fail (prints a line, exits 3), the last two run by hand.
var cronCompose = `version: "3.8"
services:
  app:
    image: abra-test/busybox:1
    command: ["sleep", "86400"]
    stop_grace_period: 1s
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=0.1.0+1"
        - "coop-cloud.${STACK_NAME}.timeout=60"
` + cronJob("tick", "echo tick", "${TICK_SCHEDULE}") + cronJob("long", "sleep 15; echo done", "0 0 1 1 *") +
	cronJob("fail", "echo about to fail; exit 3", "0 0 1 1 *")

// cronJob is a job service as lint wants it.
func cronJob(name, command, schedule string) string {
	return fmt.Sprintf(`  %s:
    image: abra-test/busybox:1
    command: ["sh", "-c", %q]
    deploy:
      mode: replicated
      replicas: 0
      restart_policy:
        condition: none
      labels:
        - "swarm.cronjob.enable=true"
        - "swarm.cronjob.schedule=%s"
`, name, command, schedule)
}

// cronRun is a run as 'abra app cron history --json' prints it.
type cronRun struct {
	App      string    `json:"app"`
	Service  string    `json:"service"`
	Trigger  string    `json:"trigger"`
	State    string    `json:"state"`
	ExitCode *int      `json:"exit_code"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	TaskID   string    `json:"task_id"`
	Schedule string    `json:"schedule"`
	Error    string    `json:"error"`
	Logs     []string  `json:"logs"`
}

func cronHistory(t *testing.T, e *env, domain, service string) []cronRun {
	t.Helper()
	r := e.mustAbra("app", "cron", "history", domain, service, "--json")
	var runs []cronRun
	if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil {
		t.Fatalf("cron history --json: %v\n%s", err, r.stdout)
	}
	return runs
}

// endedRuns keeps the runs that ended, oldest first.
func endedRuns(runs []cronRun) []cronRun {
	var out []cronRun
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].State != "running" {
			out = append(out, runs[i])
		}
	}
	return out
}

func TestScheduledJobs(t *testing.T) {
	start := time.Now()
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	agentRepo := agentRecipeRepo(t, nil)
	t.Logf("images built in %s", time.Since(start).Round(time.Second))

	recipe := filepath.Join(t.TempDir(), "crontest")
	writeFile(t, filepath.Join(recipe, "compose.yml"), cronCompose)
	writeFile(t, filepath.Join(recipe, ".env.sample"), "TYPE=crontest\nDOMAIN=cron.example.com\nTICK_SCHEDULE=@every 6s\n")
	run(t, recipe, "git", "init", "-q", "-b", "main")
	run(t, recipe, "git", "add", "-A")
	run(t, recipe, "git", "commit", "-qm", "crontest")
	run(t, recipe, "git", "tag", "-a", "0.1.0+1", "-m", "0.1.0+1")

	e := newEnv(t)
	const domain, stack = "cron.e2e.localhost", "cron_e2e_localhost"
	const agentDomain, agentStack = "agent.cron.localhost", "agent_cron_localhost"
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := runOutput("service", "logs", "--raw", agentStack+"_app")
			t.Logf("agent log:\n%s", out)
		}
		for _, d := range []string{agentDomain, domain} {
			e.abra("app", "undeploy", d)
		}
		for _, st := range []string{agentStack, stack} {
			waitStackGone(t, st)
		}
		for _, d := range []string{agentDomain, domain} {
			e.abra("app", "remove", d, "--force")
		}
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "crontest", "--url", recipe)
	e.mustAbra("recipe", "fetch", "abra-agent", "--url", agentRepo)
	envPath := filepath.Join(e.abraDir, "servers", "default", domain+".env")

	e.mustAbra("app", "new", "crontest", "--server", "default", "--domain", domain, "-n")
	// A schedule the scheduler could not read is refused, naming the env
	// file's line (lint cannot check a schedule from a variable).
	replaceInFile(t, envPath, "TICK_SCHEDULE=@every 6s", "TICK_SCHEDULE=every six seconds")
	if r := e.abra("app", "deploy", domain, "-D", "-n"); r.code == 0 || !strings.Contains(r.stderr, envPath+`:3: TICK_SCHEDULE="every six seconds": swarm.cronjob.schedule of service tick`) {
		t.Fatalf("an unparsable schedule must be refused naming the env file, line and key: %s", r)
	}
	replaceInFile(t, envPath, "TICK_SCHEDULE=every six seconds", "TICK_SCHEDULE=@every 6s")
	e.mustAbra("app", "deploy", domain, "-D", "-n")

	// The agent; its healthcheck is slow to pass, and nothing here needs it.
	e.mustAbra("app", "new", "abra-agent", "--server", "default", "--domain", agentDomain, "-n")
	e.mustAbra("app", "deploy", agentDomain, "-D", "-n", "--no-converge-checks")
	agentContainer := func() string {
		return docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+agentStack+"_app")
	}
	var agentID string
	waitFor(t, "the agent container", time.Minute, func() bool { agentID = agentContainer(); return agentID != "" })

	t.Run("a job runs on its schedule and each run is recorded", func(t *testing.T) {
		waitFor(t, "two runs of tick", time.Minute, func() bool { return len(endedRuns(cronHistory(t, e, domain, "tick"))) >= 2 })
		runs := endedRuns(cronHistory(t, e, domain, "tick"))
		for _, r := range runs {
			if r.State != "succeeded" || r.ExitCode == nil || *r.ExitCode != 0 || r.Trigger != "schedule" || r.TaskID == "" ||
				r.Schedule != "@every 6s" || r.App != domain {
				t.Fatalf("a scheduled run: %+v", r)
			}
		}
		if d := runs[1].Started.Sub(runs[0].Started); d < 5500*time.Millisecond || d > 6500*time.Millisecond {
			t.Fatalf("runs %s apart, want 6s", d)
		}
	})

	t.Run("a changed schedule counts at once, without a restart", func(t *testing.T) {
		replaceInFile(t, envPath, "TICK_SCHEDULE=@every 6s", "TICK_SCHEDULE=@every 3s")
		e.mustAbra("app", "deploy", domain, "-D", "-n", "--force")
		changed := time.Now()
		var after []cronRun
		waitFor(t, "two runs on the new schedule", time.Minute, func() bool {
			after = nil
			for _, r := range endedRuns(cronHistory(t, e, domain, "tick")) {
				if r.Schedule == "@every 3s" {
					after = append(after, r)
				}
			}
			return len(after) >= 3
		})
		if d := after[2].Started.Sub(after[1].Started); d < 2500*time.Millisecond || d > 3500*time.Millisecond {
			t.Fatalf("runs on the new schedule %s apart, want 3s", d)
		}
		if first := after[0].Started.Sub(changed); first > 10*time.Second {
			t.Fatalf("the new schedule counted %s after the deploy", first)
		}
		if id := agentContainer(); id != agentID {
			t.Fatalf("the agent was restarted (%s, was %s)", id, agentID)
		}
	})

	t.Run("a deploy while a job runs does not stop it", func(t *testing.T) {
		cmd := exec.Command(abraBin, "app", "cron", "run", domain, "long")
		cmd.Env = append(os.Environ(), "ABRA_DIR="+e.abraDir, "NO_COLOR=1")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var task string
		waitFor(t, "the long job to run", 30*time.Second, func() bool {
			task = docker(t, "service", "ps", stack+"_long", "-q", "--no-trunc", "--filter", "desired-state=running")
			return task != "" && !strings.Contains(task, "\n") &&
				docker(t, "inspect", "--format", "{{.Status.State}}", task) == "running"
		})
		r := e.mustAbra("app", "deploy", domain, "-D", "-n", "--force")
		if !strings.Contains(r.stderr, "keep service "+stack+"_long") {
			t.Errorf("the deploy does not say it kept the running job: %s", r.stderr)
		}
		if st := docker(t, "inspect", "--format", "{{.Status.State}}", task); st != "running" {
			t.Fatalf("after the deploy the job's task is %s", st)
		}
		err := cmd.Wait()
		t.Logf("abra app cron run %s long → %v\n%s%s", domain, err, out.String(), errb.String())
		if err != nil || !strings.Contains(out.String(), "succeeded (exit 0)") {
			t.Fatalf("the long job: %v", err)
		}
		runs := cronHistory(t, e, domain, "long")
		if len(runs) != 1 || runs[0].State != "succeeded" || *runs[0].ExitCode != 0 || runs[0].TaskID != task || runs[0].Trigger != "manual" {
			t.Fatalf("the long job's record: %+v (task %s)", runs, task)
		}
		if d := runs[0].Finished.Sub(runs[0].Started); d < 14*time.Second {
			t.Fatalf("the long job ended after %s: it did not run its 15 s", d)
		}
	})

	t.Run("a failing job is recorded with its exit code and last log line and is not restarted", func(t *testing.T) {
		r := e.abra("app", "cron", "run", domain, "fail")
		if r.code == 0 || !strings.Contains(r.stderr, "failed (exit 3)") || !strings.Contains(r.stderr, "  about to fail") {
			t.Fatalf("cron run of a failing job: %s", r)
		}
		runs := cronHistory(t, e, domain, "fail")
		if len(runs) != 1 || runs[0].State != "failed" || runs[0].ExitCode == nil || *runs[0].ExitCode != 3 ||
			len(runs[0].Logs) == 0 || runs[0].Logs[len(runs[0].Logs)-1] != "about to fail" {
			t.Fatalf("the failed run's record: %+v", runs)
		}
		for range 5 {
			if tasks := docker(t, "service", "ps", stack+"_fail", "-q", "--no-trunc"); strings.Count(tasks, "\n") != 0 {
				t.Fatalf("the failed job was started again: tasks\n%s", tasks)
			}
			time.Sleep(time.Second)
		}
		if n := docker(t, "service", "inspect", stack+"_fail", "--format", "{{.Spec.Mode.Replicated.Replicas}}"); n != "0" {
			t.Fatalf("the failed job keeps %s replicas: the next deploy would run it again", n)
		}
	})

	t.Run("cron ls", func(t *testing.T) {
		var jobs []struct {
			Service  string    `json:"service"`
			Schedule string    `json:"schedule"`
			NextRun  time.Time `json:"next_run"`
			LastRun  *cronRun  `json:"last_run"`
		}
		if err := json.Unmarshal([]byte(cronLs(t, e, domain)), &jobs); err != nil || len(jobs) != 3 {
			t.Fatalf("cron ls --json: %v %+v", err, jobs)
		}
		for _, j := range jobs {
			if j.NextRun.IsZero() || j.LastRun == nil {
				t.Errorf("cron ls: %+v", j)
			}
		}
		if jobs[0].Service != "fail" || jobs[0].LastRun.State != "failed" || jobs[2].Service != "tick" || jobs[2].Schedule != "@every 3s" {
			t.Errorf("cron ls: %+v", jobs)
		}
	})
	t.Logf("TestScheduledJobs took %s", time.Since(start).Round(time.Second))
}

func cronLs(t *testing.T, e *env, domain string) string {
	t.Helper()
	return e.mustAbra("app", "cron", "ls", domain, "--json").stdout
}
