package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The conformance rule: the swarm objects `abra app deploy` creates are the ones
// `docker stack deploy` creates from the same compose files and environment,
// apart from the labels abra adds on purpose to the app service. These tests
// deploy every recipe of the corpus both ways on the real daemon and compare.

// abraLabelKeys are the labels abra puts on the "app" service on purpose.
var abraLabelKeys = []string{"version", "chaos", "chaos-version", "recipe", "autoupdate"}

// stackObjects is what one deploy left on the swarm, normalised so that two
// deploys of the same stack compare equal: IDs are replaced by names, image
// digests and abra's own labels are dropped.
type stackObjects struct {
	Services map[string]any // short service name → normalised Spec
	Networks map[string]any // stack network name → normalised inspection
	Configs  map[string]any // config name → Spec
	Secrets  map[string]any // secret name → Spec
}

// difference is one field on which abra's deploy and docker's differ.
type difference struct {
	Path, Abra, Docker string
}

func (d difference) String() string {
	return fmt.Sprintf("%s\n    abra:   %s\n    docker: %s", d.Path, d.Abra, d.Docker)
}

// compareStacks lists the differences between the objects abra created and the
// ones docker stack deploy created; none means they conform.
func compareStacks(abra, docker stackObjects) []difference {
	var out []difference
	diffValue("services", toAny(abra.Services), toAny(docker.Services), &out)
	diffValue("networks", toAny(abra.Networks), toAny(docker.Networks), &out)
	diffValue("configs", toAny(abra.Configs), toAny(docker.Configs), &out)
	diffValue("secrets", toAny(abra.Secrets), toAny(docker.Secrets), &out)
	return out
}

func toAny(m map[string]any) any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

const absentValue = "<absent>"

// diffValue walks two decoded JSON values. A missing key, null, {} and []
// are the same thing: the Engine API omits or nulls empty fields depending on
// how a spec was built, and swarm treats them alike.
func diffValue(path string, a, b any, out *[]difference) {
	if isEmpty(a) && isEmpty(b) {
		return
	}
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && bIsMap {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			diffValue(path+"."+k, am[k], bm[k], out)
		}
		return
	}
	al, aIsList := a.([]any)
	bl, bIsList := b.([]any)
	if aIsList && bIsList {
		if reflect.DeepEqual(al, bl) {
			return
		}
		if len(al) == len(bl) && !allScalars(al) {
			for i := range al {
				diffValue(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i], out)
			}
			return
		}
		onlyA, onlyB := listMinus(al, bl), listMinus(bl, al)
		if len(onlyA)+len(onlyB) > 0 {
			*out = append(*out, difference{Path: path + " (items on one side only)", Abra: renderJSON(onlyA), Docker: renderJSON(onlyB)})
		} else {
			*out = append(*out, difference{Path: path + " (order)", Abra: renderJSON(al), Docker: renderJSON(bl)})
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, difference{Path: path, Abra: renderJSON(a), Docker: renderJSON(b)})
	}
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

func allScalars(l []any) bool {
	for _, v := range l {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

// listMinus is a minus b as multisets.
func listMinus(a, b []any) []any {
	used := make([]bool, len(b))
	var out []any
next:
	for _, x := range a {
		for i, y := range b {
			if !used[i] && reflect.DeepEqual(x, y) {
				used[i] = true
				continue next
			}
		}
		out = append(out, x)
	}
	return out
}

func renderJSON(v any) string {
	if v == nil {
		return absentValue
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// dockerOutput runs the test's docker client and returns stdout only (JSON must
// not be mixed with warnings).
func dockerOutput(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(dockerBin(), args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out
}

func dockerInspect(t *testing.T, kind string, refs []string) []map[string]any {
	t.Helper()
	if len(refs) == 0 {
		return nil
	}
	var objs []map[string]any
	if err := json.Unmarshal(dockerOutput(t, append([]string{kind, "inspect"}, refs...)...), &objs); err != nil {
		t.Fatalf("decode docker %s inspect: %v", kind, err)
	}
	return objs
}

func stackLabelFilter(stack string) string { return "label=com.docker.stack.namespace=" + stack }

// recordStack inspects the services, networks, configs and secrets of a stack
// and normalises them for compareStacks.
func recordStack(t *testing.T, stack string) stackObjects {
	t.Helper()
	services := dockerInspect(t, "service", strings.Fields(docker(t, "service", "ls", "-q", "--filter", stackLabelFilter(stack))))
	if len(services) == 0 {
		t.Fatalf("stack %s has no services", stack)
	}

	// Networks: the stack's own, plus every network a service is attached to
	// (external ones), so that IDs can be replaced by names.
	netRefs := strings.Fields(docker(t, "network", "ls", "-q", "--no-trunc", "--filter", stackLabelFilter(stack)))
	var secretRefs, configRefs []string
	for _, s := range services {
		spec := jsonObj(s["Spec"])
		for _, n := range append(jsonList(jsonObj(spec["TaskTemplate"])["Networks"]), jsonList(spec["Networks"])...) {
			netRefs = append(netRefs, jsonStr(jsonObj(n)["Target"]))
		}
		cs := jsonObj(jsonObj(spec["TaskTemplate"])["ContainerSpec"])
		for _, sec := range jsonList(cs["Secrets"]) {
			secretRefs = append(secretRefs, jsonStr(jsonObj(sec)["SecretName"]))
		}
		for _, c := range jsonList(cs["Configs"]) {
			configRefs = append(configRefs, jsonStr(jsonObj(c)["ConfigName"]))
		}
	}
	netName := map[string]string{}
	rec := stackObjects{Services: map[string]any{}, Networks: map[string]any{}, Configs: map[string]any{}, Secrets: map[string]any{}}
	for _, n := range dockerInspect(t, "network", uniqStrings(netRefs)) {
		name := jsonStr(n["Name"])
		netName[jsonStr(n["Id"])] = name
		if jsonObj(n["Labels"])["com.docker.stack.namespace"] != stack {
			continue
		}
		// Allocated per network, not chosen by the deployer.
		for _, k := range []string{"Id", "Created", "Containers", "Peers", "Services"} {
			delete(n, k)
		}
		delete(jsonObj(n["IPAM"]), "Config")
		delete(jsonObj(n["Options"]), "com.docker.network.driver.overlay.vxlanid_list")
		rec.Networks[name] = n
	}

	for _, s := range services {
		spec := jsonObj(s["Spec"])
		name := strings.TrimPrefix(jsonStr(spec["Name"]), stack+"_")
		normaliseServiceSpec(spec, name, stack, netName)
		rec.Services[name] = spec
	}

	configRefs = append(configRefs, strings.Fields(docker(t, "config", "ls", "-q", "--filter", stackLabelFilter(stack)))...)
	for _, c := range dockerInspect(t, "config", uniqStrings(configRefs)) {
		spec := jsonObj(c["Spec"])
		rec.Configs[jsonStr(spec["Name"])] = spec
	}
	secretRefs = append(secretRefs, strings.Fields(docker(t, "secret", "ls", "-q", "--filter", stackLabelFilter(stack)))...)
	for _, s := range dockerInspect(t, "secret", uniqStrings(secretRefs)) {
		spec := jsonObj(s["Spec"])
		rec.Secrets[jsonStr(spec["Name"])] = spec
	}
	return rec
}

var digestSuffix = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

// normaliseServiceSpec rewrites what legitimately differs between two deploys
// of the same stack: network IDs become names, secret and config IDs go, image
// digests (pinned only when a registry answered) go, ForceUpdate goes, and
// abra's own labels on the app service go.
func normaliseServiceSpec(spec map[string]any, name, stack string, netName map[string]string) {
	tt := jsonObj(spec["TaskTemplate"])
	delete(tt, "ForceUpdate")
	for _, nets := range [][]any{jsonList(tt["Networks"]), jsonList(spec["Networks"])} {
		for _, n := range nets {
			n := jsonObj(n)
			if name, ok := netName[jsonStr(n["Target"])]; ok {
				n["Target"] = name
			}
		}
	}
	cs := jsonObj(tt["ContainerSpec"])
	if img, ok := cs["Image"].(string); ok {
		cs["Image"] = digestSuffix.ReplaceAllString(img, "")
	}
	for _, s := range jsonList(cs["Secrets"]) {
		delete(jsonObj(s), "SecretID")
	}
	for _, c := range jsonList(cs["Configs"]) {
		delete(jsonObj(c), "ConfigID")
	}
	if name == "app" {
		labels := jsonObj(spec["Labels"])
		for _, k := range abraLabelKeys {
			delete(labels, "coop-cloud."+stack+"."+k)
		}
	}
}

func jsonObj(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

func jsonList(v any) []any { l, _ := v.([]any); return l }

func jsonStr(v any) string { s, _ := v.(string); return s }

func uniqStrings(l []string) []string {
	var out []string
	for _, s := range l {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// referenceDocker is the client whose `docker stack deploy` is the reference:
// ABRA_CONFORMANCE_DOCKER, else the newest client installed, which must be 23
// or later. abra vendors current docker/cli; older clients load compose files
// differently (20.10 refuses files without a version: key, which docker/cli
// accepts since 23.0, and appends an overlay's entrypoint to the base one).
func referenceDocker(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ABRA_CONFORMANCE_DOCKER"); bin != "" {
		return bin
	}
	candidates := []string{"/usr/local/bin/docker", dockerBin()}
	if p, err := exec.LookPath("docker"); err == nil {
		candidates = append(candidates, p)
	}
	best, bestVersion := "", []int{0}
	for _, bin := range uniqStrings(candidates) {
		out, err := exec.Command(bin, "version", "--format", "{{.Client.Version}}").Output()
		if err != nil {
			continue
		}
		v := versionNumbers(strings.TrimSpace(string(out)))
		if slices.Compare(v, bestVersion) > 0 {
			best, bestVersion = bin, v
		}
	}
	if bestVersion[0] < 23 {
		t.Fatalf("no docker client 23 or later among %v (newest: %s %v): its compose loader is not the one abra vendors; install one or set ABRA_CONFORMANCE_DOCKER", uniqStrings(candidates), best, bestVersion)
	}
	return best
}

func versionNumbers(s string) []int {
	var v []int
	for _, part := range strings.SplitN(s, ".", 3) {
		digits := strings.TrimLeftFunc(part, func(r rune) bool { return r < '0' || r > '9' })
		end := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' })
		if end >= 0 {
			digits = digits[:end]
		}
		n, _ := strconv.Atoi(digits)
		v = append(v, n)
	}
	return v
}

// stackDeploy runs `docker stack deploy` from dir with exactly env (plus PATH
// and HOME), as an operator would after exporting the app's environment.
func stackDeploy(t *testing.T, bin, dir, stack string, env, files []string) {
	t.Helper()
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	// -H: recipes may set DOCKER_HOST for their own containers (healthcheck does).
	args := []string{"-H", host, "stack", "deploy", "--resolve-image=always"}
	if help, _ := exec.Command(bin, "stack", "deploy", "--help").CombinedOutput(); bytes.Contains(help, []byte("--detach")) {
		args = append(args, "--detach=true")
	}
	for _, f := range files {
		args = append(args, "-c", f)
	}
	args = append(args, stack)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s →\n%s", bin, strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("docker stack deploy: %v\n%s", err, out)
	}
}

// removeStack removes a stack deployed by docker and waits until it is gone.
// stack rm fails when a network still has endpoints of the removed tasks; it
// is run again until it succeeds (it exits 0 when nothing is left).
func removeStack(t *testing.T, stack string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(dockerBin(), "stack", "rm", stack).CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker stack rm %s: %v\n%s", stack, err, out)
		}
		time.Sleep(time.Second)
	}
	waitStackGone(t, stack)
}

var exportLine = regexp.MustCompile(`^\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=`)

// abraShExports evaluates the `export NAME=value` lines of a recipe's abra.sh
// with a real shell, as NAME=value pairs in order.
func abraShExports(t *testing.T, dir string) []string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(dir, "abra.sh"))
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var lines, names []string
	for _, l := range strings.Split(string(script), "\n") {
		if m := exportLine.FindStringSubmatch(l); m != nil {
			lines = append(lines, l)
			names = append(names, m[1])
		}
	}
	if len(lines) == 0 {
		return nil
	}
	// printf, not env: values may hold newlines.
	prog := strings.Join(lines, "\n") + "\n"
	for _, n := range names {
		prog += `printf '%s=%s\0' ` + n + ` "$` + n + `"` + "\n"
	}
	cmd := exec.Command("sh", "-c", prog)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("evaluate the exports of %s/abra.sh: %v", dir, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// dockerEnv is the environment docker stack deploy gets: the exports of
// abra.sh, then the app's env file (it wins), then STACK_NAME.
func dockerEnv(t *testing.T, e *env, domain, stack, recipeDir string) (vars []string, composeFiles []string) {
	t.Helper()
	var values map[string]string
	if err := json.Unmarshal([]byte(e.mustAbra("app", "env", domain, "--json").stdout), &values); err != nil {
		t.Fatalf("abra app env --json: %v", err)
	}
	vars = abraShExports(t, recipeDir)
	for _, k := range slices.Sorted(maps.Keys(values)) {
		vars = append(vars, k+"="+values[k])
	}
	vars = append(vars, "STACK_NAME="+stack)
	for _, f := range strings.Split(values["COMPOSE_FILE"], ":") {
		if f = strings.TrimSpace(f); f != "" {
			composeFiles = append(composeFiles, f)
		}
	}
	if len(composeFiles) == 0 {
		composeFiles = []string{"compose.yml"}
	}
	return vars, composeFiles
}

var (
	missingSecretsRe = regexp.MustCompile(`secrets missing on the server: ([^\n]+)`)
	missingNetworkRe = regexp.MustCompile(`network "([^"]+)" is declared as external, but does not exist`)
)

// abraDeploy deploys the app's work tree without waiting, creating the external
// secrets (random values) and networks abra says are missing.
func (a *conformanceApp) abraDeploy(t *testing.T) {
	t.Helper()
	for range 10 {
		r := a.e.abra("app", "deploy", a.domain, "--chaos", "--no-domain-checks", "--no-converge-checks", "-n")
		if r.code == 0 {
			return
		}
		if m := missingSecretsRe.FindStringSubmatch(r.stderr); m != nil {
			for _, name := range strings.Split(strings.TrimSpace(m[1]), ", ") {
				createSecret(t, name)
				a.secrets = append(a.secrets, name)
			}
			continue
		}
		if m := missingNetworkRe.FindStringSubmatch(r.stderr); m != nil {
			ensureNetwork(t, m[1])
			continue
		}
		t.Fatalf("abra app deploy %s: %s", a.domain, r)
	}
	t.Fatalf("abra app deploy %s: still failing after creating secrets and networks", a.domain)
}

func createSecret(t *testing.T, name string) {
	t.Helper()
	value := make([]byte, 16)
	_, _ = rand.Read(value)
	cmd := exec.Command(dockerBin(), "secret", "create", name, "-")
	cmd.Stdin = strings.NewReader(hex.EncodeToString(value))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker secret create %s: %v\n%s", name, err, out)
	}
}

// ensureNetwork creates an external overlay network a recipe expects (proxy).
// It is left in place: other apps and tests use it too.
func ensureNetwork(t *testing.T, name string) {
	t.Helper()
	if exec.Command(dockerBin(), "network", "inspect", name).Run() == nil {
		return
	}
	out, err := exec.Command(dockerBin(), "network", "create", "-d", "overlay", "--scope", "swarm", "--attachable", name).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "already exists") {
		t.Fatalf("docker network create %s: %v\n%s", name, err, out)
	}
}

// conformanceRun keeps the stacks of two test runs on one daemon apart.
var conformanceRun = func() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return "r" + hex.EncodeToString(b)
}()

// conformanceApp is a recipe fetched and an app created in a fresh ABRA_DIR.
type conformanceApp struct {
	e                   *env
	domain, stack, repo string
	secrets             []string // created for the app
}

// newConformanceApp commits a copy of the recipe in src and creates its app.
func newConformanceApp(t *testing.T, src, name string) *conformanceApp {
	t.Helper()
	repo := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	copyDir(t, src, repo)
	run(t, "", "chmod", "-R", "u+w", repo) // the corpus is read-only
	run(t, repo, "git", "init", "-q", "-b", "main")
	run(t, repo, "git", "add", "-A")
	run(t, repo, "git", "commit", "-qm", "conformance")
	a := &conformanceApp{e: newEnv(t), domain: name + "." + conformanceRun + ".conformance.localhost"}
	a.stack = strings.ReplaceAll(a.domain, ".", "_")
	// The stack goes first: swarm refuses to remove secrets in use. Undeploy
	// and stack rm remove the stack's configs.
	t.Cleanup(func() {
		removeStack(t, a.stack)
		for _, name := range a.secrets {
			if out, err := exec.Command(dockerBin(), "secret", "rm", name).CombinedOutput(); err != nil {
				t.Errorf("docker secret rm %s: %v\n%s", name, err, out)
			}
		}
	})
	a.e.mustAbra("server", "add", "--local")
	a.e.mustAbra("recipe", "fetch", name, "--url", repo)
	a.e.mustAbra("app", "new", name, "--chaos", "--server", "default", "--domain", a.domain, "-n")
	a.repo = filepath.Join(a.e.abraDir, "recipes", name)
	return a
}

// deployWithAbra deploys with abra, records the stack and undeploys it.
func (a *conformanceApp) deployWithAbra(t *testing.T) stackObjects {
	t.Helper()
	a.abraDeploy(t)
	rec := recordStack(t, a.stack)
	a.e.mustAbra("app", "undeploy", a.domain)
	waitStackGone(t, a.stack)
	return rec
}

func reportDifferences(t *testing.T, what string, diffs []difference) {
	t.Helper()
	if len(diffs) == 0 {
		return
	}
	var b strings.Builder
	for _, d := range diffs {
		b.WriteString("\n  " + d.String())
	}
	t.Errorf("%s: abra app deploy and docker stack deploy created different objects, %d differences:%s", what, len(diffs), b.String())
}

// corpusDir is the recipe corpus: ABRA_CORPUS, else ../shared/corpus beside
// the checkout (as in CI, where its absence is a failure).
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ABRA_CORPUS")
	if dir == "" {
		dir = filepath.Join(repoRoot, "..", "shared", "corpus")
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("recipe corpus: %v (CI has shared/ beside the checkout; or set ABRA_CORPUS)", err)
		}
		t.Skipf("recipe corpus: %v (set ABRA_CORPUS)", err)
	}
	return dir
}

func TestConformance(t *testing.T) {
	corpus := corpusDir(t)
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	bin := referenceDocker(t)
	t.Logf("reference: %s stack deploy", bin)
	// Nearly every recipe joins the external proxy network; create it once here
	// rather than racing for it in parallel subtests.
	ensureNetwork(t, "proxy")
	for _, entry := range entries {
		if !entry.IsDir() {
			continue
		}
		name := entry.Name()
		src := filepath.Join(corpus, name)
		t.Run(name, func(t *testing.T) {
			sample, err := os.ReadFile(filepath.Join(src, ".env.sample"))
			if err != nil {
				t.Skip("no .env.sample: not deployable (lint reports it)")
			}
			t.Parallel()
			a := newConformanceApp(t, src, name)
			reportDifferences(t, name, a.deployBothWays(t, bin))
			// The overlays a recipe offers are chosen by uncommenting a block of
			// its .env.sample; deploy each choice too.
			envPath := filepath.Join(a.e.abraDir, "servers", "default", a.domain+".env")
			base := readFile(t, envPath)
			for _, v := range overlayVariants(string(sample)) {
				writeFile(t, envPath, base+"\n"+strings.Join(v.settings, "\n")+"\n")
				reportDifferences(t, name+" with COMPOSE_FILE="+v.composeFile, a.deployBothWays(t, bin))
			}
		})
	}
}

// deployBothWays deploys the app with abra, then with docker stack deploy, and
// compares what each created. The stack is removed afterwards.
func (a *conformanceApp) deployBothWays(t *testing.T, bin string) []difference {
	t.Helper()
	fromAbra := a.deployWithAbra(t)
	vars, files := dockerEnv(t, a.e, a.domain, a.stack, a.repo)
	stackDeploy(t, bin, a.repo, a.stack, vars, files)
	fromDocker := recordStack(t, a.stack)
	removeStack(t, a.stack)
	return compareStacks(fromAbra, fromDocker)
}

// overlayVariant is one commented-out COMPOSE_FILE choice of an .env.sample
// with the commented settings right below it, uncommented.
type overlayVariant struct {
	composeFile string
	settings    []string
}

var commentedSetting = regexp.MustCompile(`^#\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

func overlayVariants(sample string) []overlayVariant {
	var out []overlayVariant
	lines := strings.Split(sample, "\n")
	for i, l := range lines {
		m := commentedSetting.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil || m[1] != "COMPOSE_FILE" {
			continue
		}
		v := overlayVariant{composeFile: strings.Trim(m[2], `"'`)}
		if slices.ContainsFunc(out, func(o overlayVariant) bool { return o.composeFile == v.composeFile }) {
			continue
		}
		for _, next := range lines[i:] {
			m := commentedSetting.FindStringSubmatch(strings.TrimSpace(next))
			if m == nil || (m[1] == "COMPOSE_FILE" && len(v.settings) > 0) {
				break
			}
			v.settings = append(v.settings, m[1]+"="+m[2])
		}
		out = append(out, v)
	}
	return out
}

// The comparison must notice what a wrong conversion would get wrong: overlay
// order and $$ escapes, on a recipe written here.
func TestConformanceDetectsDifferences(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, ".env.sample"), "TYPE=conformance-probe\nCOMPOSE_FILE=compose.yml:compose.extra.yml\n")
	writeFile(t, filepath.Join(src, "compose.yml"), `version: "3.8"
services:
  app:
    image: abra-e2e/conformance-probe:1
    environment:
      - PRICE=$$5
      - GREETING=from-base
    deploy:
      labels:
        - "probe=${STACK_NAME}"
`)
	writeFile(t, filepath.Join(src, "compose.extra.yml"), `version: "3.8"
services:
  app:
    environment:
      - GREETING=from-extra
`)
	bin := referenceDocker(t)
	a := newConformanceApp(t, src, "conformance-probe")
	fromAbra := a.deployWithAbra(t)
	env := jsonList(jsonObj(jsonObj(jsonObj(fromAbra.Services["app"])["TaskTemplate"])["ContainerSpec"])["Env"])
	if !slices.Contains(env, any("PRICE=$5")) || !slices.Contains(env, any("GREETING=from-extra")) {
		t.Fatalf("abra deployed app with env %v, want PRICE=$5 and GREETING=from-extra", env)
	}
	vars, files := dockerEnv(t, a.e, a.domain, a.stack, a.repo)
	if !slices.Equal(files, []string{"compose.yml", "compose.extra.yml"}) {
		t.Fatalf("COMPOSE_FILE = %q", files)
	}

	// (a) the same files in the same order: equal.
	stackDeploy(t, bin, a.repo, a.stack, vars, files)
	reportDifferences(t, "same files", compareStacks(fromAbra, recordStack(t, a.stack)))

	wantEnvDiff := func(what, abraItem, dockerItem string, diffs []difference) {
		t.Helper()
		for _, d := range diffs {
			if strings.HasPrefix(d.Path, "services.app.TaskTemplate.ContainerSpec.Env") &&
				strings.Contains(d.Abra, abraItem) && strings.Contains(d.Docker, dockerItem) {
				return
			}
		}
		t.Errorf("%s: want a difference in services.app.TaskTemplate.ContainerSpec.Env (%s vs %s), got %v", what, abraItem, dockerItem, diffs)
	}

	// (b) the overlays in the wrong order: the base file's GREETING wins.
	stackDeploy(t, bin, a.repo, a.stack, vars, []string{"compose.extra.yml", "compose.yml"})
	wantEnvDiff("overlays reversed", "GREETING=from-extra", "GREETING=from-base", compareStacks(fromAbra, recordStack(t, a.stack)))

	// (c) a $$ escape unescaped once too few: PRICE=$$5 instead of PRICE=$5.
	replaceInFile(t, filepath.Join(a.repo, "compose.yml"), "PRICE=$$5", "PRICE=$$$$5")
	stackDeploy(t, bin, a.repo, a.stack, vars, files)
	wantEnvDiff("$$ kept", "PRICE=$5", "PRICE=$$5", compareStacks(fromAbra, recordStack(t, a.stack)))
}
