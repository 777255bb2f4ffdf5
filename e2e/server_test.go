package e2e

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestServerPruneAndStatus runs abra server prune and abra server ls --status
// against the second test server: a prune removes daemon-wide leftovers
// (stopped containers, unused volumes, dangling images), which on the shared
// local daemon would take other tests' objects.
func TestServerPruneAndStatus(t *testing.T) {
	busybox := run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	ssh := startSSH(t)
	ssh.trust(t, ssh.hostPub)
	node := startTestNode(t, ssh)
	sock := "unix://" + filepath.Join(node, "docker.sock")
	loadImage(t, sock, busybox)
	e := newEnv(t)
	e.extra = []string{ssh.path, "DOCKER_CONFIG=" + t.TempDir()}
	e.mustAbra("server", "add", "--local")
	e.mustAbra("server", "add", "abra-node1", "--init", "-n")
	onNode := func(args ...string) string { return docker(t, append([]string{"-H", sock}, args...)...) }

	t.Run("prune", func(t *testing.T) {
		onNode("run", "--name", "prune-exited", busybox, "sh", "-c", "exit 0")
		exited := onNode("inspect", "--format", "{{.Id}}", "prune-exited")
		running := onNode("run", "-d", "--name", "prune-running", "-v", "used:/data", busybox, "sleep", "600")
		onNode("network", "create", "-d", "overlay", "--label", "com.docker.stack.namespace=gone", "gone_default")
		onNode("network", "create", "keepme")
		onNode("volume", "create", "gone_data")
		// An image without a tag: dangling.
		dangling := run(t, node, "sh", "-c", "tar -c -T /dev/null | "+dockerBin()+" -H "+sock+" import -")

		// Volumes go only when asked twice: without --force (and no terminal)
		// the prune names them and --force, and removes nothing.
		r := e.abra("server", "prune", "abra-node1", "--volumes", "-n")
		if r.code != 2 || !strings.Contains(r.stderr, "gone_data") || !strings.Contains(r.stderr, "--force") {
			t.Fatalf("prune --volumes without --force: %s", r)
		}
		if out := onNode("ps", "-aq", "--no-trunc"); !strings.Contains(out, exited) {
			t.Fatalf("a refused prune removed the exited container: %s", out)
		}

		var report struct {
			Containers []string `json:"containers"`
			Networks   []string `json:"networks"`
			Images     []string `json:"images"`
			Volumes    []string `json:"volumes"`
		}
		r = e.mustAbra("server", "prune", "abra-node1", "--volumes", "--force", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
			t.Fatalf("prune --json: %v\n%s", err, r)
		}
		if !slices.Equal(report.Containers, []string{exited}) || !slices.Equal(report.Networks, []string{"gone_default"}) ||
			!slices.Equal(report.Volumes, []string{"gone_data"}) || !slices.Contains(report.Images, dangling) {
			t.Fatalf("prune report = %+v; want container %s, network gone_default, volume gone_data, image %s", report, exited, dangling)
		}
		if out := onNode("ps", "-aq", "--no-trunc"); out != running {
			t.Errorf("containers after the prune = %q, want only the running %s", out, running)
		}
		nets := strings.Fields(onNode("network", "ls", "--format", "{{.Name}}"))
		if slices.Contains(nets, "gone_default") || !slices.Contains(nets, "proxy") || !slices.Contains(nets, "keepme") {
			t.Errorf("networks after the prune = %v: want gone_default gone, proxy and keepme kept", nets)
		}
		if vols := strings.Fields(onNode("volume", "ls", "-q")); !slices.Equal(vols, []string{"used"}) {
			t.Errorf("volumes after the prune = %v, want the used one only", vols)
		}
		if imgs := onNode("image", "ls", "-q", "--no-trunc"); strings.Contains(imgs, dangling) || onNode("image", "ls", "-q", busybox) == "" {
			t.Errorf("images after the prune: %s; want the dangling one gone and %s kept", imgs, busybox)
		}

		// Nothing left to remove: a second prune says so.
		if r := e.mustAbra("server", "prune", "abra-node1"); !strings.Contains(r.stderr, "abra-node1: removed 0 containers, 0 networks, 0 images, 0 volumes") {
			t.Errorf("second prune: %s", r)
		}
	})

	t.Run("ls --status", func(t *testing.T) {
		status := func(args ...string) (map[string]map[string]any, result) {
			r := e.abra(append([]string{"server", "ls", "--status", "--json"}, args...)...)
			var views []map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &views); err != nil {
				t.Fatalf("server ls --status --json: %v\n%s", err, r)
			}
			out := map[string]map[string]any{}
			for _, v := range views {
				st, _ := v["status"].(map[string]any)
				out[v["name"].(string)] = st
			}
			return out, r
		}
		versions := map[string]string{"default": docker(t, "version", "--format", "{{.Server.Version}}"), "abra-node1": onNode("version", "--format", "{{.Server.Version}}")}
		rows, r := status()
		if r.code != 0 || len(rows) != 2 {
			t.Fatalf("server ls --status: %s", r)
		}
		for name, version := range versions {
			st := rows[name]
			if st["reachable"] != true || st["docker_version"] != version || st["swarm_role"] != "manager" || st["nodes"] != 1.0 {
				t.Errorf("status of %s = %v; want reachable, docker %s, manager of 1 node", name, st, version)
			}
		}
		if rows["abra-node1"]["proxy_network"] != true {
			t.Errorf("abra-node1 was set up with --init: its proxy network = %v", rows["abra-node1"]["proxy_network"])
		}
		// The table: server, host, apps, reachable, docker, role, nodes, proxy.
		r = e.mustAbra("server", "ls", "--status")
		if want := "abra-node1 abra-node1 0 yes " + versions["abra-node1"] + " manager 1 true"; !slices.Contains(lines(r.stdout), want) {
			t.Errorf("server ls --status table lacks %q: %s", want, r)
		}

		// With the node's sshd stopped: its row says why, the local one is
		// still answered, and the exit code says some servers failed.
		run(t, node, "sh", "-c", "kill $(cat sshd.pid)")
		rows, r = status("--timeout", "5s")
		if r.code != 3 || !strings.Contains(r.stderr, "unreachable: abra-node1") {
			t.Fatalf("exit code with an unreachable server = %d, want 3: %s", r.code, r)
		}
		if st := rows["abra-node1"]; st["reachable"] != false || st["error"] == nil || st["error"] == "" {
			t.Errorf("status of the unreachable node = %v", st)
		}
		if rows["default"]["reachable"] != true {
			t.Errorf("status of the local server = %v", rows["default"])
		}
	})
}

// lines are the lines of out with their runs of spaces made one (a table's).
func lines(out string) []string {
	var l []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		l = append(l, strings.Join(strings.Fields(line), " "))
	}
	return l
}
