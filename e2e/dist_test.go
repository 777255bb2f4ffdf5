package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"

	"coopcloud.tech/abra/internal/dist"
)

// snapshotBuild is one `make snapshot` run.
type snapshotBuild struct {
	dir     string // DIST
	version string
	images  []dist.Image
}

func (b snapshotBuild) file(name string) string { return filepath.Join(b.dir, b.version, name) }

// snapshotRun is one `make snapshot` run: its DIST, output and error.
type snapshotRun struct {
	dir, out string
	err      error
}

// snapshotBuilds are TestSnapshotRelease's two `make snapshot` runs: this
// checkout with REGISTRY set, then a copy of it elsewhere. TestMain starts
// them beside the other tests, which mostly wait on Docker while these are
// CPU-bound; done is closed when both ended (nil when not started).
var snapshotBuilds struct {
	done         chan struct{}
	first, again snapshotRun
}

// startSnapshots runs the two builds in the background, under tmp.
func startSnapshots(tmp string) {
	snapshotBuilds.done = make(chan struct{})
	snap := func(root, dir string, vars ...string) snapshotRun {
		cmd := exec.Command("make", append([]string{"snapshot", "DIST=" + dir}, vars...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("make snapshot %s in %s: %w", strings.Join(vars, " "), root, err)
		}
		return snapshotRun{dir: dir, out: string(out), err: err}
	}
	go func() {
		defer close(snapshotBuilds.done)
		if out, err := exec.Command(filepath.Join(repoRoot, "scripts", "registry-up.sh")).CombinedOutput(); err != nil {
			snapshotBuilds.first.err = fmt.Errorf("registry-up.sh: %w\n%s", err, out)
			return
		}
		snapshotBuilds.first = snap(repoRoot, filepath.Join(tmp, "snapshot"), "REGISTRY="+registryAddr+"/abra")
		if snapshotBuilds.first.err != nil {
			return
		}
		// Another checkout path: -trimpath and fixed times must make the path
		// and the clock irrelevant.
		elsewhere := filepath.Join(tmp, "elsewhere")
		copyTree := fmt.Sprintf("mkdir %[2]q && tar -C %[1]q --exclude=./bin --exclude=./dist --exclude=./public --exclude=./.cache -cf - . | tar -C %[2]q -xf -", repoRoot, elsewhere)
		if out, err := exec.Command("sh", "-c", copyTree).CombinedOutput(); err != nil {
			snapshotBuilds.again.err = fmt.Errorf("copy the checkout: %w\n%s", err, out)
			return
		}
		snapshotBuilds.again = snap(elsewhere, filepath.Join(tmp, "snapshot-elsewhere"))
	}()
}

// snapshotResult waits for a run and reads what it wrote.
func snapshotResult(t *testing.T, r *snapshotRun) snapshotBuild {
	t.Helper()
	<-snapshotBuilds.done
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.out)
	}
	b := snapshotBuild{dir: r.dir}
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			b.version = e.Name()
		}
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+-snapshot\.\d{14}\.g[0-9a-f]{12}$`).MatchString(b.version) {
		t.Fatalf("make snapshot wrote version %q into %s", b.version, b.dir)
	}
	if err := json.Unmarshal([]byte(readFile(t, b.file("images.json"))), &b.images); err != nil || len(b.images) == 0 {
		t.Fatalf("images.json: %v", err)
	}
	return b
}

// TestSnapshotRelease: `make snapshot REGISTRY=…` builds every archive,
// package and multi-arch image of this checkout, reproducibly; abra upgrade
// installs from it; and a server that never built anything deploys the
// backup-bot recipe from the registry and backs up and restores an app.
func TestSnapshotRelease(t *testing.T) {
	if snapshotBuilds.done == nil {
		t.Fatal("TestMain did not start the snapshot builds")
	}
	registry := startRegistry(t)
	b := snapshotResult(t, &snapshotBuilds.first)
	commit := run(t, repoRoot, "git", "rev-parse", "HEAD")
	bot := b.images[slices.IndexFunc(b.images, func(i dist.Image) bool { return i.Name == "abra-backupbot" })]
	if want := registry + "/abra/abra-backupbot:" + b.version; bot.Ref != want {
		t.Fatalf("backup image pushed as %q, want %q", bot.Ref, want)
	}

	t.Run("the same commit builds the same bytes elsewhere", func(t *testing.T) {
		again := snapshotResult(t, &snapshotBuilds.again)
		if again.version != b.version {
			t.Fatalf("versions differ: %s, %s", b.version, again.version)
		}
		if got, want := readFile(t, again.file("checksums.txt")), readFile(t, b.file("checksums.txt")); got != want {
			t.Errorf("archive checksums differ between two builds of one commit:\n%s\n---\n%s", want, got)
		}
		for i, img := range again.images {
			if img.Digest != b.images[i].Digest || !maps.Equal(img.Platforms, b.images[i].Platforms) {
				t.Errorf("image %s: %s %v, then %s %v", img.Name, b.images[i].Digest, b.images[i].Platforms, img.Digest, img.Platforms)
			}
		}
	})

	t.Run("the update agent's image is released beside it", func(t *testing.T) {
		i := slices.IndexFunc(b.images, func(i dist.Image) bool { return i.Name == "abra-agent" })
		if i < 0 {
			t.Fatalf("images.json has no abra-agent: %+v", b.images)
		}
		ref, err := name.ParseReference(b.images[i].Ref)
		if err != nil || b.images[i].Ref != registry+"/abra/abra-agent:"+b.version {
			t.Fatalf("agent image pushed as %q (%v)", b.images[i].Ref, err)
		}
		img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		files := imageFiles(t, img)
		checkBinary(t, "abra-agent", files["abra-agent"].data, "linux", "arm64")
		if k := files["usr/bin/kadabra"]; k.link != "/abra-agent" {
			t.Errorf("usr/bin/kadabra → %q, want the link to /abra-agent (kadabra's entry point)", k.link)
		}
	})

	t.Run("the CI image is released beside it", func(t *testing.T) {
		i := slices.IndexFunc(b.images, func(i dist.Image) bool { return i.Name == "abra" })
		if i < 0 || b.images[i].Ref != registry+"/abra/abra:"+b.version {
			t.Fatalf("images.json has no abra image pushed as %s/abra/abra:%s: %+v", registry, b.version, b.images)
		}
		ref, err := name.ParseReference(b.images[i].Ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		files := imageFiles(t, img)
		checkBinary(t, "usr/bin/abra", files["usr/bin/abra"].data, "linux", "arm64")
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if k := files["usr/bin/abra-ci"]; k.link != "/usr/bin/abra" || !slices.Equal(cf.Config.Entrypoint, []string{"/usr/bin/abra-ci"}) {
			t.Errorf("usr/bin/abra-ci → %q, entrypoint %v: want the link to /usr/bin/abra as the entry point", k.link, cf.Config.Entrypoint)
		}
	})

	t.Run("the registry has a multi-arch index with annotations", func(t *testing.T) {
		ref, err := name.ParseReference(bot.Ref)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := remote.Index(ref)
		if err != nil {
			t.Fatalf("pull index %s: %v", ref, err)
		}
		if d, _ := idx.Digest(); d.String() != bot.Digest {
			t.Fatalf("registry digest %s, images.json %s", d, bot.Digest)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.version":  b.version,
			"org.opencontainers.image.revision": commit,
			"org.opencontainers.image.source":   "https://coopcloud.tech/abra",
		} {
			if got := m.Annotations[k]; got != want && !(k == "org.opencontainers.image.revision" && got == commit+"-dirty") {
				t.Errorf("index annotation %s = %q, want %q", k, got, want)
			}
		}
		var plats []string
		for _, d := range m.Manifests {
			plats = append(plats, d.Platform.OS+"/"+d.Platform.Architecture)
		}
		if !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) {
			t.Fatalf("index platforms %v", plats)
		}
		// arm64 cannot run here: check its config and the ELF headers and
		// Go build info of its binaries, as `go version -m` reads them.
		img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != "arm64" || cf.OS != "linux" || !slices.Equal(cf.Config.Entrypoint, []string{"/backupbot"}) {
			t.Fatalf("arm64 config: %s/%s entrypoint %v", cf.OS, cf.Architecture, cf.Config.Entrypoint)
		}
		files := imageFiles(t, img)
		for _, f := range []string{"backupbot", "usr/bin/restic"} {
			checkBinary(t, f, files[f].data, "linux", "arm64")
		}
		if ssh := files["usr/bin/ssh"]; ssh.link != "/backupbot" {
			t.Errorf("usr/bin/ssh → %q, want the link to /backupbot (its ssh client)", ssh.link)
		}
		if len(files["etc/ssl/certs/ca-certificates.crt"].data) < 100<<10 {
			t.Errorf("the CA bundle is missing or small: %d bytes", len(files["etc/ssl/certs/ca-certificates.crt"].data))
		}
		pinned := "v" + cf.Config.Labels["tech.coopcloud.abra.backupbot.restic"]
		if bi, err := buildinfo.Read(bytes.NewReader(files["usr/bin/restic"].data)); err != nil || bi.Main.Path != "github.com/restic/restic" || bi.Main.Version != pinned {
			t.Errorf("restic in the image is not the pinned one (label %q): %v", cf.Config.Labels["tech.coopcloud.abra.backupbot.restic"], err)
		}
	})

	t.Run("archives and Debian packages for every platform", func(t *testing.T) {
		sums := readFile(t, b.file("checksums.txt"))
		for _, p := range dist.BinaryPlatforms {
			archive := fmt.Sprintf("abra_%s_%s_%s.tar.gz", b.version, p.OS, p.Arch)
			if !strings.Contains(sums, "  "+archive+"\n") {
				t.Errorf("checksums.txt does not name %s", archive)
			}
			files := tarGzFiles(t, b.file(archive))
			checkBinary(t, archive+":abra", files["abra"].data, p.OS, p.Arch)
			if len(files["LICENSE"].data) == 0 {
				t.Errorf("%s has no LICENSE", archive)
			}
		}
		// The binary for this machine runs and says what it is.
		if runtime.GOOS == "linux" {
			bin := filepath.Join(t.TempDir(), "abra")
			files := tarGzFiles(t, b.file(fmt.Sprintf("abra_%s_linux_%s.tar.gz", b.version, runtime.GOARCH)))
			if err := os.WriteFile(bin, files["abra"].data, 0o755); err != nil {
				t.Fatal(err)
			}
			if out := run(t, "", bin, "-v"); !strings.Contains(out, "abra "+b.version+" (commit "+commit[:12]) {
				t.Errorf("abra -v = %q, want version %s and commit %s", out, b.version, commit[:12])
			}
		}
		for _, arch := range []string{"amd64", "arm64"} {
			deb := b.file(fmt.Sprintf("abra_%s_%s.deb", b.version, arch))
			if got := run(t, "", "dpkg-deb", "-f", deb, "Package", "Architecture", "Version"); !strings.Contains(got, "Package: abra") ||
				!strings.Contains(got, "Architecture: "+arch) || !strings.Contains(got, "Version: ") {
				t.Errorf("%s control: %s", deb, got)
			}
			list := run(t, "", "dpkg-deb", "-c", deb)
			for _, f := range []string{"./usr/bin/abra", "./usr/share/bash-completion/completions/abra", "./usr/share/doc/abra/copyright"} {
				if !strings.Contains(list, f) {
					t.Errorf("%s lacks %s:\n%s", deb, f, list)
				}
			}
			x := t.TempDir()
			run(t, "", "dpkg-deb", "-x", deb, x)
			data, err := os.ReadFile(filepath.Join(x, "usr", "bin", "abra"))
			if err != nil {
				t.Fatal(err)
			}
			checkBinary(t, deb+":/usr/bin/abra", data, "linux", arch)
		}
	})

	t.Run("abra upgrade installs the snapshot", func(t *testing.T) {
		srv := httptest.NewServer(http.FileServer(http.Dir(b.dir)))
		defer srv.Close()
		old := filepath.Join(t.TempDir(), "abra")
		build := exec.Command("go", "build", "-trimpath", "-o", old, "-ldflags", "-X coopcloud.tech/abra/internal/cli.Version=0.0.1-alpha", "./cmd/abra")
		build.Dir, build.Env = repoRoot, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build an older abra: %v\n%s", err, out)
		}
		if out := run(t, "", old, "upgrade", "--url", srv.URL, "--rc"); !strings.Contains(out, b.version) {
			t.Fatalf("abra upgrade did not name %s: %s", b.version, out)
		}
		if out := run(t, "", old, "-v"); !strings.Contains(out, "abra "+b.version) {
			t.Fatalf("after abra upgrade, abra -v = %q, want %s", out, b.version)
		}
	})

	t.Run("a server that never built anything deploys backup-bot from the registry", func(t *testing.T) {
		snapshotOnFreshNode(t, b, bot)
	})
}

func snapshotOnFreshNode(t *testing.T, b snapshotBuild, bot dist.Image) {
	ssh := startSSH(t)
	ssh.trust(t, ssh.hostPub)
	node := startTestNode(t, ssh)
	sock := "unix://" + filepath.Join(node, "docker.sock")
	if out := docker(t, "-H", sock, "image", "ls", "-q"); out != "" {
		t.Fatalf("the new node already has images: %s", out)
	}
	// The node reaches the host's registry at 127.0.0.1:5000 as the host does.
	forwardIntoNode(t, "/run/netns/abrans1", registryAddr)
	busybox := pushImage(t, "e2e/busybox", "1")["1"]

	// The recipe as a hoster publishing to their own registry forks it: the
	// image line points at the registry, nothing else changes.
	botRepo := filepath.Join(t.TempDir(), "backup-bot")
	copyDir(t, filepath.Join(repoRoot, "recipes", "backup-bot"), botRepo)
	compose := readFile(t, filepath.Join(botRepo, "compose.yml"))
	imageLine := regexp.MustCompile(`(?m)^(\s*image:\s*)\S*abra-backupbot:\S+$`)
	if !imageLine.MatchString(compose) {
		t.Fatalf("recipes/backup-bot/compose.yml names no abra-backupbot image:\n%s", compose)
	}
	writeFile(t, filepath.Join(botRepo, "compose.yml"), imageLine.ReplaceAllString(compose, "${1}"+bot.Ref))
	version := regexp.MustCompile(`coop-cloud\.\$\{STACK_NAME\}\.version=([^"'\s]+)`).FindStringSubmatch(compose)[1]
	run(t, botRepo, "git", "init", "-q", "-b", "main")
	run(t, botRepo, "git", "add", "-A")
	run(t, botRepo, "git", "commit", "-qm", "backup-bot from "+registryAddr)
	run(t, botRepo, "git", "tag", "-a", version, "-m", version)

	vault := filepath.Join(t.TempDir(), "vault")
	writeFile(t, filepath.Join(vault, ".env.sample"), "TYPE=vault\nDOMAIN=vault.example.com\n")
	writeFile(t, filepath.Join(vault, "compose.yml"), strings.NewReplacer("abra-test/busybox:1", registryAddr+"/e2e/busybox:1", "VERSION", "0.1.0+1").Replace(vaultCompose))
	run(t, vault, "git", "init", "-q", "-b", "main")
	run(t, vault, "git", "add", "-A")
	run(t, vault, "git", "commit", "-qm", "vault")
	run(t, vault, "git", "tag", "-a", "0.1.0+1", "-m", "0.1.0+1")

	e := newEnv(t)
	e.extra = []string{ssh.path, "DOCKER_CONFIG=" + t.TempDir()}
	s := backupServer{e: e, name: "abra-node1", volumes: filepath.Join(node, "data", "volumes")}
	e.mustAbra("server", "add", "abra-node1", "--init", "-n")
	e.mustAbra("recipe", "fetch", "backup-bot", "--url", botRepo)
	e.mustAbra("recipe", "fetch", "vault", "--url", vault)

	// The catalogue records the published index's digest for the recipe.
	catDir := t.TempDir()
	copyDir(t, filepath.Dir(botRepo), catDir)
	e.mustAbra("catalogue", "generate", "--from-dir", catDir)
	if cat := readFile(t, filepath.Join(e.abraDir, "catalogue", "recipes.json")); !strings.Contains(cat, bot.Digest) {
		t.Errorf("the catalogue does not record %s for backup-bot:\n%s", bot.Digest, cat)
	}

	const domain, stack = "vault.rel.localhost", "vault_rel_localhost"
	const botDomain, botStack = "backups.rel.localhost", "backups_rel_localhost"
	e.mustAbra("app", "new", "vault", "--server", s.name, "--domain", domain, "-n")
	e.mustAbra("app", "deploy", domain, "-D", "-n")
	deployBackupBot(t, s, botDomain)
	// The node pulled the image by the index digest from the registry.
	if got := docker(t, "-H", sock, "service", "inspect", botStack+"_app", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"); got != bot.Ref+"@"+bot.Digest {
		t.Fatalf("the node runs %q, want %s@%s", got, bot.Ref, bot.Digest)
	}
	if got := docker(t, "-H", sock, "service", "inspect", stack+"_app", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"); !strings.HasSuffix(got, "@"+busybox) {
		t.Errorf("the vault app runs %q, want the pushed busybox %s", got, busybox)
	}
	backupRoundTrip(t, s, domain, stack, botStack)
	e.mustAbra("app", "backup", "verify", domain)
}

// forwardIntoNode listens on addr inside the network namespace netns and
// forwards each connection to addr in this process's namespace.
func forwardIntoNode(t *testing.T, netns, addr string) {
	t.Helper()
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread joins the node's namespace and is never given back: a
		// goroutine that ends locked to its thread takes the thread with it.
		runtime.LockOSThread()
		fd, err := unix.Open(netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns %s: %w", netns, err)}
			return
		}
		l, err := net.Listen("tcp", addr)
		ch <- result{l, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, netns, r.err)
	}
	t.Cleanup(func() { r.l.Close() })
	go func() {
		for {
			in, err := r.l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); _ = out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
}

type entry struct {
	data []byte
	link string
}

// imageFiles reads the files of an image's layers.
func imageFiles(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	return tarFiles(t, rc)
}

func tarGzFiles(t *testing.T, path string) map[string]entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tarFiles(t, zr)
}

func tarFiles(t *testing.T, r io.Reader) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		n := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[n] = entry{data: b}
		case tar.TypeSymlink:
			out[n] = entry{link: h.Linkname}
		}
	}
}

// checkBinary checks a binary's object format and machine, and that Go
// built it for goos/goarch (what `go version -m` prints).
func checkBinary(t *testing.T, what string, data []byte, goos, goarch string) {
	t.Helper()
	if len(data) == 0 {
		t.Errorf("%s: missing", what)
		return
	}
	switch goos {
	case "linux":
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: not ELF: %v", what, err)
			return
		}
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
		if f.Machine != want {
			t.Errorf("%s: ELF machine %v, want %v", what, f.Machine, want)
		}
	case "darwin":
		f, err := macho.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: not Mach-O: %v", what, err)
			return
		}
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]
		if f.Cpu != want {
			t.Errorf("%s: Mach-O cpu %v, want %v", what, f.Cpu, want)
		}
	}
	bi, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: no Go build info: %v", what, err)
		return
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOOS"] != goos || settings["GOARCH"] != goarch || settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("%s: built with %v, want GOOS=%s GOARCH=%s CGO_ENABLED=0 -trimpath", what, settings, goos, goarch)
	}
}
