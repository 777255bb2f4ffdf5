package dashboard

import (
	"context"
	"fmt"
	"strings"
	"testing"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/swarm"
)

func TestFleetShowsEachAppsLastBackupFromOneListingPerServer(t *testing.T) {
	h := newHarness(t)
	one := uint64(1)
	if _, _, err := h.fake.CreateService(context.Background(), mobyswarm.ServiceSpec{
		Annotations:  mobyswarm.Annotations{Name: "backups_app", Labels: map[string]string{swarm.StackLabel: "backups", app.BackupServiceLabel: "true"}},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "abra-backupbot:1"}},
		Mode:         mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}},
	}, false); err != nil {
		t.Fatal(err)
	}
	var calls []string
	h.fake.ExecFunc = func(o swarm.ExecOptions) (int, error) {
		calls = append(calls, strings.Join(o.Cmd, " "))
		fmt.Fprintln(o.Stdout, `{"event":"result","data":{"snapshots":[`+
			`{"id":"aaaa1111","short_id":"aaaa1111","time":"2026-12-01T03:30:00Z","app":"blog_example_org","tags":[]},`+
			`{"id":"bbbb2222","short_id":"bbbb2222","time":"2026-12-02T03:30:00Z","app":"blog_example_org","tags":[]},`+
			`{"id":"cccc3333","short_id":"cccc3333","time":"2026-12-03T03:30:00Z","app":"blog_example_org","tags":["safety"]}]}}`)
		return 0, nil
	}
	h.signIn()
	_, body := h.get("/")
	// The newest backup, not the safety snapshot a restore took.
	if !strings.Contains(body, "Last backup") || !strings.Contains(body, "(bbbb2222)") || strings.Contains(body, "cccc3333") {
		t.Fatalf("the fleet page lacks the last backup:\n%s", body)
	}
	if len(calls) != 1 || !strings.Contains(calls[0], "ls --all --json") {
		t.Fatalf("backup service calls = %v, want one 'ls --all'", calls)
	}
	// Kept for a while: the next page asks nobody.
	h.get("/")
	if len(calls) != 1 {
		t.Fatalf("backup service calls after a second page = %v", calls)
	}
	if _, de := h.get("/", "Accept-Language", "de"); !strings.Contains(de, "Letzte Sicherung") {
		t.Fatal("the German fleet page lacks its heading for the last backup")
	}
}
