package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"coopcloud.tech/abra/internal/cronjob"
	"coopcloud.tech/abra/internal/swarm"
)

// cronEnabled reads CRON: the scheduler of swarm.cronjob services runs
// unless it is false (the recipe's CRON=false, for a server that keeps
// crazy-max's swarm-cronjob, which must not run beside it).
func cronEnabled(getenv func(string) string) (bool, error) {
	v := strings.TrimSpace(getenv("CRON"))
	if v == "" {
		return true, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("CRON=%q: want true or false", v)
	}
	return on, nil
}

// startCron runs the scheduled jobs of the swarm beside the update passes
// until ctx ends or the function it returns is called, which stops the
// scheduler and waits for it (runs still waiting are finished by the next
// agent, their records say "running" until then). Schedules are in
// the agent's time zone (TZ, as swarm-cronjob's; UTC when unset), and each
// run, schedule change and problem is a line of the agent's log.
func startCron(ctx context.Context, c swarm.Cluster, getenv func(string) string, log io.Writer) (stop func(), err error) {
	on, err := cronEnabled(getenv)
	if err != nil || !on {
		if err == nil {
			fmt.Fprintf(log, "%s cron: off (CRON=false): swarm.cronjob services are not run\n", time.Now().UTC().Format(time.RFC3339))
		}
		return func() {}, err
	}
	s := &cronjob.Scheduler{Cluster: c, Location: time.Local, Log: log}
	fmt.Fprintf(log, "%s cron: running the swarm.cronjob services of this swarm (time zone %s)\n", time.Now().UTC().Format(time.RFC3339), time.Local)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ctx)
	}()
	return func() { cancel(); <-done }, nil
}
