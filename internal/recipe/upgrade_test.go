package recipe

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// fakeRegistry answers Tags from a map and counts the calls.
type fakeRegistry struct {
	mu    sync.Mutex
	tags  map[string][]string
	fail  map[string]error
	calls map[string]int
}

func (f *fakeRegistry) Tags(_ context.Context, repo string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[repo]++
	if err := f.fail[repo]; err != nil {
		return nil, err
	}
	return f.tags[repo], nil
}

const upgradeCompose = `services:
  app:
    image: 127.0.0.1:5000/e2e/app:1.2.0 # the app
  worker:
    image: 127.0.0.1:5000/e2e/app:1.2.0
  db:
    image: postgres:15-alpine
  env:
    image: ${IMAGE}:1
`

func TestPlanUpgrade(t *testing.T) {
	reg := &fakeRegistry{tags: map[string][]string{
		"127.0.0.1:5000/e2e/app": {"1.2.0", "1.2.1", "1.3.0", "2.0.0", "1.3.0-rc1"},
		"postgres":               {"15-alpine", "16-alpine", "16", "15.4-alpine"},
	}}
	tests := []struct {
		name   string
		policy Bump
		want   string // service=pick
	}{
		{"patch", BumpPatch, "app=1.2.1 worker=1.2.1 db= env="},
		{"minor", BumpMinor, "app=1.3.0 worker=1.3.0 db= env="},
		{"major", BumpMajor, "app=2.0.0 worker=2.0.0 db=16-alpine env="},
		{"no policy", BumpNone, "app= worker= db= env="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeRecipeFiles(t, map[string]string{"compose.yml": upgradeCompose})
			plan, err := PlanUpgrade(context.Background(), dir, reg, UpgradeOptions{Policy: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range plan {
				got = append(got, u.Service+"="+u.Pick)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("picks %s, want %s", strings.Join(got, " "), tt.want)
			}
		})
	}
	if n := reg.calls["127.0.0.1:5000/e2e/app"]; n != len(tests) {
		t.Errorf("registry asked %d times for one image over %d plans; want once per plan", n, len(tests))
	}
	if _, asked := reg.calls["${IMAGE}"]; asked {
		t.Error("an interpolated image was looked up")
	}
}

func TestApplyUpgrade(t *testing.T) {
	dir := writeRecipeFiles(t, map[string]string{"compose.yml": upgradeCompose})
	reg := &fakeRegistry{tags: map[string][]string{"127.0.0.1:5000/e2e/app": {"1.3.0"}, "postgres": {"16-alpine"}}}
	plan, err := PlanUpgrade(context.Background(), dir, reg, UpgradeOptions{Policy: BumpMinor})
	if err != nil {
		t.Fatal(err)
	}
	changes, err := ApplyUpgrade(dir, plan)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 {
		t.Errorf("changes = %+v, want app and worker", changes)
	}
	want := strings.ReplaceAll(upgradeCompose, "e2e/app:1.2.0", "e2e/app:1.3.0")
	if got := readRecipeFile(t, dir, "compose.yml"); got != want {
		t.Errorf("compose.yml:\n%s\nwant:\n%s", got, want)
	}
}

func TestPlanUpgradeRegistryFailure(t *testing.T) {
	dir := writeRecipeFiles(t, map[string]string{"compose.yml": upgradeCompose})
	down := errors.New("registry 127.0.0.1:5000: connection refused")
	reg := &fakeRegistry{tags: map[string][]string{"postgres": {"16-alpine"}}, fail: map[string]error{"127.0.0.1:5000/e2e/app": down}}
	_, err := PlanUpgrade(context.Background(), dir, reg, UpgradeOptions{Policy: BumpMinor})
	if !errors.Is(err, down) || !strings.Contains(err.Error(), "image 127.0.0.1:5000/e2e/app: registry 127.0.0.1:5000") {
		t.Fatalf("err = %v, want the image and registry named", err)
	}
	if got := readRecipeFile(t, dir, "compose.yml"); got != upgradeCompose {
		t.Error("a failed plan changed compose.yml")
	}
}
