package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// abra app cp follows docker cp's rules on a real daemon, both ways.
func TestCpFollowsDockerCpRules(t *testing.T) {
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	repo := shellRecipeRepo(t)
	e := newEnv(t)
	const domain, stack = "cp.e2e.localhost", "cp_e2e_localhost"
	deployLocal(t, e, "shell", repo, domain)
	ctr := docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+stack+"_app")
	sh := func(script string) string {
		out, err := exec.Command(dockerBin(), "exec", ctr, "sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("sh -c %q: %v\n%s", script, err, out)
		}
		return string(out)
	}
	// Bytes that survive only a byte-exact copy: no trailing newline, a CR, a tab.
	const fileBody, aBody, bBody = "file\r\n\tend", "a\n", "b\n\n"
	type want map[string]string
	tests := []struct {
		name     string
		src, dst string
		fail     string // part of the error; "" when it must work
		local    want
		inCtr    want
	}{
		{name: "file to a new name in the container", src: "LOCAL/file.txt", dst: "app:/data/newname", inCtr: want{"/data/newname": fileBody}},
		{name: "file into a container folder", src: "LOCAL/file.txt", dst: "app:/data", inCtr: want{"/data/file.txt": fileBody}},
		{name: "file over a container file", src: "LOCAL/file.txt", dst: "app:/data/existing", inCtr: want{"/data/existing": fileBody}},
		{name: "folder to a new name in the container", src: "LOCAL/dir", dst: "app:/data/newdir", inCtr: want{"/data/newdir/a": aBody, "/data/newdir/sub/b": bBody}},
		{name: "folder into a container folder", src: "LOCAL/dir", dst: "app:/data", inCtr: want{"/data/dir/a": aBody, "/data/dir/sub/b": bBody}},
		{name: "folder contents into a container folder", src: "LOCAL/dir/.", dst: "app:/data", inCtr: want{"/data/a": aBody, "/data/sub/b": bBody}},
		{name: "file to a missing container folder with /", src: "LOCAL/file.txt", dst: "app:/data/nope/", fail: "does not exist"},
		{name: "file under a missing container folder", src: "LOCAL/file.txt", dst: "app:/nope/x", fail: "the folder /nope"},
		{name: "folder over a container file", src: "LOCAL/dir", dst: "app:/data/existing", fail: "cannot copy a directory onto the file"},
		{name: "file to a new local name", src: "app:/srv/f.txt", dst: "LOCAL/newname", local: want{"newname": fileBody}},
		{name: "file into a local folder", src: "app:/srv/f.txt", dst: "LOCAL/dir", local: want{"dir/f.txt": fileBody}},
		{name: "folder to a new local name", src: "app:/srv", dst: "LOCAL/got", local: want{"got/f.txt": fileBody, "got/deep/g": bBody}},
		{name: "folder into a local folder", src: "app:/srv", dst: "LOCAL/dir", local: want{"dir/srv/f.txt": fileBody, "dir/srv/deep/g": bBody}},
		{name: "folder contents into a local folder", src: "app:/srv/.", dst: "LOCAL/dir", local: want{"dir/f.txt": fileBody, "dir/deep/g": bBody}},
		{name: "container folder over a local file", src: "app:/srv", dst: "LOCAL/file.txt", fail: "cannot copy a directory onto the file"},
		{name: "missing container path", src: "app:/nope", dst: "LOCAL/x", fail: "not found"},
		{name: "to a missing local folder with /", src: "app:/srv/f.txt", dst: "LOCAL/nope/", fail: "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh("rm -rf /data /srv && mkdir -p /data /srv/deep && printf 'old' > /data/existing && printf '" + strings.ReplaceAll(strings.ReplaceAll(fileBody, "\r", `\r`), "\t", `\t`) + "' > /srv/f.txt && printf 'b\\n\\n' > /srv/deep/g")
			local := t.TempDir()
			for name, content := range map[string]string{"file.txt": fileBody, "dir/a": aBody, "dir/sub/b": bBody} {
				writeFile(t, filepath.Join(local, name), content)
			}
			src, dst := strings.Replace(tt.src, "LOCAL", local, 1), strings.Replace(tt.dst, "LOCAL", local, 1)
			r := e.abra("app", "cp", domain, src, dst)
			if tt.fail != "" {
				if r.code == 0 || !strings.Contains(r.stderr, tt.fail) {
					t.Fatalf("want an error saying %q: %s", tt.fail, r)
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("cp: %s", r)
			}
			for p, content := range tt.inCtr {
				if got := sh("cat " + p); got != content {
					t.Errorf("container %s = %q, want %q", p, got, content)
				}
			}
			for p, content := range tt.local {
				if got, err := os.ReadFile(filepath.Join(local, p)); err != nil || string(got) != content {
					t.Errorf("local %s = %q (%v), want %q", p, got, err, content)
				}
			}
		})
	}
}
