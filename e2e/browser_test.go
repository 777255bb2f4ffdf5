package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/journal"
)

// chromium is Debian's chromium-headless-shell, which scripts/test.sh
// installs (playwright-core drives it; it downloads no browser of its own).
const chromium = "/usr/lib/chromium/chromium-headless-shell"

// dashCompose is the browser test's app: an idle service, and one that says
// "waiting" every half second until told to go on (a file in its /tmp), then
// prints its log in batches when told to: lines 1–1,000, then up to 10,000,
// then up to 10,500, each "line <n> end".
const dashCompose = `version: "3.8"
services:
  app:
    image: abra-test/busybox:1
    command: ["sh", "-c", "echo started; exec sleep 86400"]
    stop_grace_period: 1s
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=0.1.0+1"
  noisy:
    image: abra-test/busybox:1
    command:
      - sh
      - -c
      - |
        echo ready
        n=0
        until [ -f /tmp/go1 ]; do echo waiting; sleep 0.5; done
        for phase in 1 2 3; do
          until [ -f /tmp/go$$phase ]; do sleep 0.2; done
          case $$phase in 1) end=1000;; 2) end=10000;; *) end=10500;; esac
          while [ $$n -lt $$end ]; do n=$$((n+1)); echo "line $$n end"; done
        done
        exec sleep 86400
    stop_grace_period: 1s
`

// browserReport is what e2e/browser/run.mjs prints.
type browserReport struct {
	Browser string            `json:"browser"`
	Types   map[string]string `json:"types"`
	Pages   []struct {
		Type        string `json:"type"`
		Lang        string `json:"lang"`
		DocLang     string `json:"docLang"`
		Width       int    `json:"width"`
		Scheme      string `json:"scheme"`
		Status      int    `json:"status"`
		URL         string `json:"url"`
		ScrollWidth int    `json:"scrollWidth"`
		Violations  []struct {
			ID, Impact, Help string
			Targets          []string
		} `json:"violations"`
		CSP            []string `json:"csp"`
		Console        []string `json:"console"`
		PageErrors     []string `json:"pageErrors"`
		TabAll         bool     `json:"tabAll"`         // tabbed through (English, 1280 px, light; linked pages)
		TabStops       int      `json:"tabStops"`       // how many elements Tab reached
		FocusInvisible []string `json:"focusInvisible"` // the stops among them whose focus did not show
	} `json:"pages"`
	Keyboard *struct {
		Steps          []string `json:"steps"`
		FocusInvisible []string `json:"focusInvisible"`
		ReachedDeploy  bool     `json:"reachedDeploy"`
		ReachedConfirm bool     `json:"reachedConfirm"`
		ShiftTabBack   bool     `json:"shiftTabBack"`
		Operation      string   `json:"operation"`
		Live           string   `json:"live"`
	} `json:"keyboard"`
	CrossOrigin []struct {
		Endpoint            string `json:"endpoint"`
		From                string `json:"from"`
		Status              int    `json:"status"`
		OperationsUnchanged bool   `json:"operationsUnchanged"`
		StillSignedIn       bool   `json:"stillSignedIn"`
	} `json:"crossOrigin"`
	Logs *struct {
		Cap                      int `json:"cap"`
		After1k, After10k        logSample
		Resumed                  logSample
		PausePressed             string `json:"pausePressed"`
		WhilePaused              struct{ LastLine, LastBefore, Counter string }
		CSP, Console, PageErrors []string
	} `json:"logs"`
	Errors []string `json:"errors"`
}

type logSample struct {
	Lines    int     `json:"lines"`
	Heap     float64 `json:"heap"`
	DOMNodes int     `json:"domNodes"`
}

// maxHeapGrowth bounds the log page's JS heap after 10,000 lines against
// after 1,000 (after a forced GC each time). Measured: the page's heap is
// about 1.9 MB and moves by under 1 % between the two; a page that kept the
// 9,000 lines it no longer shows (as objects or strings) would hold about
// 470 KB more, 24 %.
const maxHeapGrowth = 1.1

// browserTools finds node, the browser and the npm modules; a missing one
// fails under CI (scripts/test.sh installs them) and skips elsewhere.
func browserTools(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node (Debian's nodejs)"
	case !fileExists(chromium):
		missing = chromium + " (apt-get install --no-install-recommends chromium-headless-shell)"
	case !fileExists(filepath.Join(repoRoot, "e2e", "browser", "node_modules", "playwright-core")):
		missing = "e2e/browser/node_modules (npm ci --prefix e2e/browser)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("browser tests: %s is missing; scripts/test.sh installs it", missing)
		}
		t.Skipf("browser tests: %s is missing; scripts/test.sh installs it", missing)
	}
	return node
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startDashboard runs 'abra dashboard' in e until the test ends and returns
// the sign-in address it prints.
func startDashboard(t *testing.T, e *env) string {
	t.Helper()
	cmd := exec.Command(abraBin, "dashboard", "--listen", "127.0.0.1:0")
	cmd.Env = append(append(os.Environ(), "ABRA_DIR="+e.abraDir, "NO_COLOR=1"), e.extra...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var rest bytes.Buffer
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		<-done
		t.Logf("abra dashboard:\n%s", rest.String())
	})
	found := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			rest.WriteString(sc.Text() + "\n")
			if m := regexp.MustCompile(`http://127\.0\.0\.1:\d+/login\?token=[0-9a-f]+`).FindString(sc.Text()); m != "" {
				found <- m
			}
		}
		close(found)
	}()
	select {
	case url, ok := <-found:
		if !ok {
			<-done
			t.Fatalf("abra dashboard printed no address:\n%s", rest.String())
		}
		return url
	case <-time.After(time.Minute):
		t.Fatalf("abra dashboard printed no address within a minute:\n%s", rest.String())
	}
	return ""
}

// operationIDs are the operations in the journal, in order.
func operationIDs(t *testing.T, dir string) []string {
	t.Helper()
	events, _, err := (&journal.Journal{Dir: dir}).Read("", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range events {
		if e.Kind == journal.Begin {
			ids = append(ids, e.Op)
		}
	}
	return ids
}

// releasedRecipe makes a git repository of a recipe's files with one
// annotated release tag.
func releasedRecipe(t *testing.T, name, tag string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	for f, content := range files {
		writeFile(t, filepath.Join(dir, f), content)
	}
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", name+" "+tag)
	run(t, dir, "git", "tag", "-a", tag, "-m", tag)
	return dir
}

// deployLocal adds the local server to e, fetches the recipe from repo,
// creates the app at domain and deploys it; it is undeployed when the test
// ends.
func deployLocal(t *testing.T, e *env, recipeName, repo, domain string) {
	t.Helper()
	t.Cleanup(func() {
		e.abra("app", "undeploy", domain)
		waitStackGone(t, strings.ReplaceAll(domain, ".", "_"))
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", recipeName, "--url", repo)
	e.mustAbra("app", "new", recipeName, "--server", "default", "--domain", domain, "-n")
	e.mustAbra("app", "deploy", domain, "-n")
}

// TestDashboardInBrowser drives a real browser against 'abra dashboard' over
// the local swarm with one deployed app (e2e/browser/run.mjs): every page
// type it finds by following the dashboard's links has no axe violation
// (WCAG 2.2 AA) in English and German and at 320 px, no horizontal scroll
// there, no CSP violation, console error or page error; a keyboard-only
// deploy (Tab to deploy, Enter, Tab to confirm, Space) ends on the operation
// page with the result in a live region, focus always visible; forms from
// another origin to plan, run and logout get 403 and start nothing; the log
// page follows 10,000 lines with a capped list and a bounded heap, and pause
// holds new lines back while counting them.
func TestDashboardInBrowser(t *testing.T) {
	node := browserTools(t)
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	repo := releasedRecipe(t, "dashapp", "0.1.0+1", map[string]string{
		"compose.yml": dashCompose, ".env.sample": "TYPE=dashapp\nDOMAIN=dashapp.example.com\n"})
	e := newEnv(t)
	journalDir := t.TempDir()
	e.extra = append(e.extra, "ABRA_JOURNAL_DIR="+journalDir)
	// Named per run: a suite running beside this one (another checkout) must
	// not find, or undeploy, this app.
	domain := fmt.Sprintf("dash%d.browser.localhost", os.Getpid())
	stack := strings.ReplaceAll(domain, ".", "_")
	deployLocal(t, e, "dashapp", repo, domain)
	noisy := docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+stack+"_noisy")
	if noisy == "" || strings.Contains(noisy, "\n") {
		t.Fatalf("want one container of %s_noisy, have %q", stack, noisy)
	}
	before := operationIDs(t, journalDir)

	url := startDashboard(t, e)
	config, _ := json.Marshal(map[string]any{"app": domain, "trigger": []string{dockerBin(), "exec", noisy, "sh", "-c"}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(repoRoot, "e2e", "browser", "run.mjs"), url, string(config))
	cmd.Dir = filepath.Join(repoRoot, "e2e", "browser")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	t.Logf("run.mjs:\n%s", stderr.String())
	var rep browserReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("run.mjs: %v; report: %v\n%s", runErr, err, stdout.String())
	}
	for _, msg := range rep.Errors {
		t.Errorf("browser suite: %s", msg)
	}
	t.Logf("Chromium %s; page types found by following links: %v", rep.Browser, rep.Types)

	t.Run("pages", func(t *testing.T) { checkPages(t, &rep) })
	t.Run("keyboard", func(t *testing.T) {
		k := rep.Keyboard
		if k == nil {
			t.Fatal("no keyboard pass")
		}
		if !k.ReachedDeploy || !k.ShiftTabBack || !k.ReachedConfirm {
			t.Errorf("keyboard pass: deploy %v, Shift+Tab back %v, confirm %v\n%s", k.ReachedDeploy, k.ShiftTabBack, k.ReachedConfirm, strings.Join(k.Steps, "\n"))
		}
		for _, f := range k.FocusInvisible {
			t.Errorf("focus not visible (no outline, no box-shadow): %s", f)
		}
		after := operationIDs(t, journalDir)
		want := "/operations/" + after[len(after)-1]
		if len(after) != len(before)+1 || k.Operation != want {
			t.Fatalf("keyboard deploy landed on %q; journal before %v, after %v (want the one new operation's page)", k.Operation, before, after)
		}
		if k.Live == "" {
			t.Errorf("the operation page's live region is empty")
		}
		t.Logf("keyboard: %s; live region: %q", strings.Join(k.Steps, "; "), k.Live)
	})
	t.Run("cross-origin", func(t *testing.T) {
		var endpoints []string
		for _, c := range rep.CrossOrigin {
			endpoints = append(endpoints, c.Endpoint)
			if c.Status != 403 || !c.OperationsUnchanged || !c.StillSignedIn {
				t.Errorf("form from %s to %s: %d, operations unchanged %v, still signed in %v (want 403, nothing started, session kept)",
					c.From, c.Endpoint, c.Status, c.OperationsUnchanged, c.StillSignedIn)
			}
		}
		for _, want := range []string{"/deploy/run", "/deploy/plan", "/logout"} {
			if !slices.ContainsFunc(endpoints, func(e string) bool { return strings.HasSuffix(e, want) }) {
				t.Errorf("no cross-origin form to …%s (tried %v)", want, endpoints)
			}
		}
		// One operation more than before the browser came: the keyboard's.
		if after := operationIDs(t, journalDir); len(after) != len(before)+1 {
			t.Errorf("journal: %d operations before, %d after; only the keyboard deploy should have started", len(before), len(after))
		}
	})
	t.Run("logs", func(t *testing.T) { checkLogs(t, &rep) })
}

func checkPages(t *testing.T, rep *browserReport) {
	for _, want := range []string{"/", "operations", "operations/*", "servers/*", "apps/*", "apps/*/logs", "catalogue"} {
		if _, ok := rep.Types[want]; !ok {
			t.Errorf("no %s page reached by following the dashboard's links (found %v)", want, rep.Types)
		}
	}
	checked := map[string]bool{} // "<type> <lang> <width> <scheme>"
	tabbed := 0
	for _, p := range rep.Pages {
		where := fmt.Sprintf("%s (%s, %s, %d px, %s)", p.URL, p.Type, p.Lang, p.Width, p.Scheme)
		checked[fmt.Sprintf("%s %s %d %s", p.Type, p.Lang, p.Width, p.Scheme)] = true
		if p.Status != 200 {
			t.Errorf("%s: HTTP %d", where, p.Status)
		}
		if p.DocLang != p.Lang {
			t.Errorf("%s: the page says lang=%q", where, p.DocLang)
		}
		for _, v := range p.Violations {
			t.Errorf("%s: axe %s (%s): %s\n  %s", where, v.ID, v.Impact, v.Help, strings.Join(v.Targets, "\n  "))
		}
		for _, c := range p.CSP {
			t.Errorf("%s: CSP violation: %s", where, c)
		}
		for _, c := range p.Console {
			t.Errorf("%s: console: %s", where, c)
		}
		for _, c := range p.PageErrors {
			t.Errorf("%s: page error: %s", where, c)
		}
		if p.TabAll {
			tabbed++
		}
		if p.TabAll && p.TabStops < 5 {
			t.Errorf("%s: Tab reached %d elements (the skip link and navigation alone are 5)", where, p.TabStops)
		}
		for _, f := range p.FocusInvisible {
			t.Errorf("%s: focus not visible (no outline, no box-shadow) on %s", where, f)
		}
		if p.Width == 320 && p.ScrollWidth > 320 {
			t.Errorf("%s: scrolls sideways at 320 px (document %d px wide)", where, p.ScrollWidth)
		}
	}
	if tabbed < len(rep.Types) {
		t.Errorf("tabbed through %d pages, want every one of the %d page types", tabbed, len(rep.Types))
	}
	// Every page type (and the plan page, which a form reaches) in both
	// languages at both widths, and in English in the dark scheme.
	types := append(slices.Collect(maps.Keys(rep.Types)), "apps/*/deploy/plan")
	for _, typ := range types {
		for _, v := range []string{"en 1280 light", "en 320 light", "de 1280 light", "de 320 light", "en 1280 dark"} {
			if !checked[typ+" "+v] {
				t.Errorf("%s was not checked in %s", typ, v)
			}
		}
	}
}

func checkLogs(t *testing.T, rep *browserReport) {
	l := rep.Logs
	if l == nil {
		t.Fatal("no log page pass")
	}
	t.Logf("log page: cap %d; after 1,000 lines %d in the list, heap %.0f B, %d DOM nodes; after 10,000 %d, heap %.0f B, %d DOM nodes (ratio %.2f)",
		l.Cap, l.After1k.Lines, l.After1k.Heap, l.After1k.DOMNodes, l.After10k.Lines, l.After10k.Heap, l.After10k.DOMNodes, l.After10k.Heap/l.After1k.Heap)
	// The page keeps the last 1,000 lines (app.js), so the list is full
	// after the first 1,000 and must not grow after.
	if l.After10k.Lines >= 10000 || l.After10k.Lines > max(l.After1k.Lines, l.Cap) {
		t.Errorf("after 10,000 lines the list holds %d, after 1,000 it held %d: not capped", l.After10k.Lines, l.After1k.Lines)
	}
	if l.After1k.Heap == 0 || l.After10k.Heap/l.After1k.Heap > maxHeapGrowth {
		t.Errorf("JS heap after 10,000 lines %.0f B, after 1,000 %.0f B: grows more than %.1f×", l.After10k.Heap, l.After1k.Heap, maxHeapGrowth)
	}
	if l.After1k.DOMNodes == 0 || float64(l.After10k.DOMNodes) > maxHeapGrowth*float64(l.After1k.DOMNodes) {
		t.Errorf("DOM nodes after 10,000 lines %d, after 1,000 %d", l.After10k.DOMNodes, l.After1k.DOMNodes)
	}
	w := l.WhilePaused
	if w.LastLine != w.LastBefore || !strings.Contains(w.Counter, "500") {
		t.Errorf("paused: last line %q (before the pause %q), page says %q; want no new line and 500 counted", w.LastLine, w.LastBefore, w.Counter)
	}
	if l.Resumed.Lines > max(l.After10k.Lines, l.Cap) {
		t.Errorf("after resuming the list holds %d lines, more than the %d before", l.Resumed.Lines, l.After10k.Lines)
	}
	for _, c := range slices.Concat(l.CSP, l.Console, l.PageErrors) {
		t.Errorf("log page: %s", c)
	}
}
