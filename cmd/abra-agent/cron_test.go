package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/cronjob"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

func TestCronEnabled(t *testing.T) {
	for v, want := range map[string]bool{"": true, "true": true, "1": true, "false": false, " FALSE ": false, "0": false} {
		got, err := cronEnabled(func(string) string { return v })
		if err != nil || got != want {
			t.Errorf("CRON=%q: %v, %v; want %v", v, got, err, want)
		}
	}
	if _, err := cronEnabled(func(string) string { return "off" }); err == nil || !strings.Contains(err.Error(), `CRON="off"`) {
		t.Errorf("CRON=off: %v", err)
	}
}

// syncBuffer is the agent's log, written by the scheduler's goroutines.
type syncBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.b.String()
}

func TestStartCronRunsTheSchedulesUnlessOff(t *testing.T) {
	c := swarmtest.New()
	zero := uint64(0)
	if _, _, err := c.CreateService(context.Background(), mobyswarm.ServiceSpec{
		Annotations:  mobyswarm.Annotations{Name: "s_job", Labels: map[string]string{swarm.StackLabel: "s", cronjob.LabelEnable: "true", cronjob.LabelSchedule: "@every 1s"}},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "busybox:1"}},
		Mode:         mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &zero}},
	}, false); err != nil {
		t.Fatal(err)
	}
	log := newSyncBuffer()
	stop, err := startCron(context.Background(), c, func(string) string { return "false" }, log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if !strings.Contains(log.String(), "cron: off (CRON=false)") {
		t.Fatalf("log: %s", log)
	}

	log = newSyncBuffer()
	stop, err = startCron(context.Background(), c, func(string) string { return "" }, log)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "s_job: run ") {
		if time.Now().After(deadline) {
			t.Fatalf("no run within 10 s:\n%s", log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop() // returns: the run waiting for its task stops with the scheduler
	if !strings.Contains(log.String(), `s_job: scheduled "@every 1s"`) {
		t.Fatalf("log:\n%s", log)
	}
}
