package lint

import (
	"strings"
	"testing"
)

// jobOverlay adds a scheduled job to goodRecipe, as lint wants it; the
// tests break one thing at a time.
const jobOverlay = `-- compose.job.yml --
version: "3.8"
services:
  dump:
    image: busybox:1.36
    command: ["sh", "-c", "echo dumped"]
    deploy:
      mode: replicated
      replicas: 0
      restart_policy:
        condition: none
      labels:
        - "swarm.cronjob.enable=true"
        - "swarm.cronjob.schedule=0 3 * * *"
        - "swarm.cronjob.skip-running=true"
`

// jobFixture is goodRecipe with jobOverlay changed by the edits (their file is the overlay).
func jobFixture(edits ...edit) fixture {
	overlay := jobOverlay
	for _, e := range edits {
		if !strings.Contains(overlay, e.old) {
			panic("not in the overlay: " + e.old)
		}
		overlay = strings.Replace(overlay, e.old, e.new, 1)
	}
	return fixture{files: overlay}
}

func TestJobRules(t *testing.T) {
	withSample := func(fx fixture, line string) fixture {
		fx.edits = append(fx.edits, edit{".env.sample", "GREETING=hi\n", "GREETING=hi\n" + line + "\n"})
		return fx
	}
	varSchedule := edit{old: "schedule=0 3 * * *", new: "schedule=${DUMP_SCHEDULE}"}
	tests := []struct {
		name   string
		rule   string
		fx     fixture
		status Status
		detail string
	}{
		{name: "no jobs", rule: "R016", status: Pass, detail: "no scheduled jobs"},
		{name: "a job as it should be", rule: "R016", status: Pass, detail: "dump", fx: jobFixture()},
		{name: "default mode", rule: "R016", status: Pass, fx: jobFixture(edit{old: "      mode: replicated\n", new: ""})},
		{name: "no replicas", rule: "R016", status: Fail, detail: "dump: no replicas: 1 by default, want 0",
			fx: jobFixture(edit{old: "      replicas: 0\n", new: ""})},
		{name: "a replica", rule: "R016", status: Fail, detail: "dump: replicas 1, want 0 (with more, every deploy runs the job too)",
			fx: jobFixture(edit{old: "replicas: 0", new: "replicas: 1"})},
		{name: "global", rule: "R016", status: Fail, detail: "dump: mode global, want replicated",
			fx: jobFixture(edit{old: "mode: replicated\n      replicas: 0", new: "mode: global"})},
		{name: "no restart policy", rule: "R016", status: Fail, detail: "restart_policy.condition any (the default), want none (swarm would restart",
			fx: jobFixture(edit{old: "      restart_policy:\n        condition: none\n", new: ""})},
		{name: "restart on failure", rule: "R016", status: Fail, detail: "dump: restart_policy.condition on-failure, want none",
			fx: jobFixture(edit{old: "condition: none", new: "condition: on-failure"})},
		{name: "disabled job is no job", rule: "R016", status: Pass, detail: "no scheduled jobs",
			fx: jobFixture(edit{old: "enable=true", new: "enable=false"}, edit{old: "replicas: 0", new: "replicas: 1"})},

		{name: "no jobs", rule: "R017", status: Pass, detail: "no scheduled jobs"},
		{name: "a cron schedule", rule: "R017", status: Pass, detail: "dump: 0 3 * * *", fx: jobFixture()},
		{name: "seconds first", rule: "R017", status: Pass, detail: "dump: */30 * * * * *",
			fx: jobFixture(edit{old: "0 3 * * *", new: "*/30 * * * * *"})},
		{name: "a descriptor", rule: "R017", status: Pass, detail: "dump: @every 6h", fx: jobFixture(edit{old: "0 3 * * *", new: "@every 6h"})},
		{name: "map form", rule: "R017", status: Pass, detail: "dump: @daily",
			fx: jobFixture(edit{old: `        - "swarm.cronjob.enable=true"
        - "swarm.cronjob.schedule=0 3 * * *"
        - "swarm.cronjob.skip-running=true"`, new: `        swarm.cronjob.enable: "true"
        swarm.cronjob.schedule: "@daily"`})},
		{name: "a schedule that does not parse", rule: "R017", status: Fail, detail: `dump: swarm.cronjob.schedule="every night": `,
			fx: jobFixture(edit{old: "0 3 * * *", new: "every night"})},
		{name: "no schedule", rule: "R017", status: Fail, detail: `dump: swarm.cronjob.schedule="": empty schedule`,
			fx: jobFixture(edit{old: "        - \"swarm.cronjob.schedule=0 3 * * *\"\n", new: ""})},
		{name: "replicas label of 0", rule: "R017", status: Fail, detail: `dump: swarm.cronjob.replicas="0": want a whole number of at least 1`,
			fx: jobFixture(edit{old: "skip-running=true", new: "skip-running=true\"\n        - \"swarm.cronjob.replicas=0"})},
		{name: "skip-running not a bool", rule: "R017", status: Fail, detail: `dump: swarm.cronjob.skip-running="yes": want true or false`,
			fx: jobFixture(edit{old: "skip-running=true", new: "skip-running=yes"})},
		{name: "enable not a bool", rule: "R017", status: Fail, detail: `dump: swarm.cronjob.enable="on": want true or false`,
			fx: jobFixture(edit{old: "enable=true", new: "enable=on"})},
		{name: "schedule from the env file", rule: "R017", status: Pass, detail: "dump: swarm.cronjob.schedule from ${DUMP_SCHEDULE}, checked at deploy",
			fx: jobFixture(varSchedule)},
		{name: "schedule from .env.sample", rule: "R017", status: Pass, detail: "dump: 0 4 * * *",
			fx: withSample(jobFixture(varSchedule), "DUMP_SCHEDULE='0 4 * * *'")},
		{name: "bad schedule in .env.sample", rule: "R017", status: Fail, detail: `dump: swarm.cronjob.schedule="nightly" (from ${DUMP_SCHEDULE} in .env.sample)`,
			fx: withSample(jobFixture(varSchedule), "DUMP_SCHEDULE=nightly")},
		{name: "a default", rule: "R017", status: Pass, detail: "dump: @hourly",
			fx: jobFixture(edit{old: "0 3 * * *", new: "${DUMP_SCHEDULE:-@hourly}"})},
	}
	for _, tt := range tests {
		t.Run(tt.rule+" "+tt.name, func(t *testing.T) {
			f := finding(t, tt.fx.run(t), tt.rule)
			if f.Status != tt.status || f.Severity != Critical {
				t.Errorf("%s %s, want %s critical (detail: %s)", f.Severity, f.Status, tt.status, f.Detail)
			}
			if !strings.Contains(f.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", f.Detail, tt.detail)
			}
		})
	}
}
