package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docker cp's rules, both ways, against the fake's container file tree.
func TestCpFollowsDockerCpRules(t *testing.T) {
	type want map[string]string // path → content ("/" suffix: a directory)
	tests := []struct {
		name     string
		src, dst string // LOCAL/… is the local temp dir, app:… the container
		code     int
		say      string
		local    want // expected under the local temp dir
		inCtr    want // expected in the container
	}{
		{name: "file to a new name in the container", src: "LOCAL/file.txt", dst: "app:/data/newname", code: ExitOK,
			inCtr: want{"/data/newname": "file\n"}},
		{name: "file into a container folder", src: "LOCAL/file.txt", dst: "app:/data", code: ExitOK,
			inCtr: want{"/data/file.txt": "file\n"}},
		{name: "file over a container file", src: "LOCAL/file.txt", dst: "app:/data/existing", code: ExitOK,
			inCtr: want{"/data/existing": "file\n"}},
		{name: "folder to a new name in the container", src: "LOCAL/dir", dst: "app:/data/newdir", code: ExitOK,
			inCtr: want{"/data/newdir/a": "a\n", "/data/newdir/sub/b": "b\n"}},
		{name: "folder into a container folder", src: "LOCAL/dir", dst: "app:/data", code: ExitOK,
			inCtr: want{"/data/dir/a": "a\n", "/data/dir/sub/b": "b\n"}},
		{name: "folder contents into a container folder", src: "LOCAL/dir/.", dst: "app:/data", code: ExitOK,
			inCtr: want{"/data/a": "a\n", "/data/sub/b": "b\n"}},
		{name: "file to a missing container folder with /", src: "LOCAL/file.txt", dst: "app:/data/nope/", code: ExitFailure, say: "does not exist"},
		{name: "file under a missing container folder", src: "LOCAL/file.txt", dst: "app:/nope/x", code: ExitFailure, say: "the folder /nope"},
		{name: "folder over a container file", src: "LOCAL/dir", dst: "app:/data/existing", code: ExitFailure, say: "cannot copy a directory onto the file"},
		{name: "file to a new local name", src: "app:/srv/f.txt", dst: "LOCAL/newname", code: ExitOK,
			local: want{"newname": "served\n"}},
		{name: "file into a local folder", src: "app:/srv/f.txt", dst: "LOCAL/dir", code: ExitOK,
			local: want{"dir/f.txt": "served\n"}},
		{name: "folder to a new local name", src: "app:/srv", dst: "LOCAL/got", code: ExitOK,
			local: want{"got/f.txt": "served\n", "got/deep/g": "g\n"}},
		{name: "folder into a local folder", src: "app:/srv", dst: "LOCAL/dir", code: ExitOK,
			local: want{"dir/srv/f.txt": "served\n", "dir/srv/deep/g": "g\n"}},
		{name: "folder contents into a local folder", src: "app:/srv/.", dst: "LOCAL/dir", code: ExitOK,
			local: want{"dir/f.txt": "served\n", "dir/deep/g": "g\n", "dir/a": "a\n"}},
		{name: "container folder over a local file", src: "app:/srv", dst: "LOCAL/file.txt", code: ExitFailure, say: "cannot copy a directory onto the file"},
		{name: "missing container path", src: "app:/nope", dst: "LOCAL/x", code: ExitFailure, say: "not found"},
		{name: "local file to a missing folder with /", src: "app:/srv/f.txt", dst: "LOCAL/nope/", code: ExitFailure, say: "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n"); code != ExitOK {
				t.Fatalf("deploy: %s", stderr)
			}
			cs, _ := fx.cluster.Containers(context.Background(), "app_example_org")
			ctr := cs[0].ID
			fx.cluster.AddDir(ctr, "/data")
			fx.cluster.AddFile(ctr, "/data/existing", []byte("old\n"))
			fx.cluster.AddFile(ctr, "/srv/f.txt", []byte("served\n"))
			fx.cluster.AddFile(ctr, "/srv/deep/g", []byte("g\n"))
			local := t.TempDir()
			for name, content := range map[string]string{"file.txt": "file\n", "dir/a": "a\n", "dir/sub/b": "b\n"} {
				write(t, filepath.Join(local, name), content)
			}
			src, dst := strings.Replace(tt.src, "LOCAL", local, 1), strings.Replace(tt.dst, "LOCAL", local, 1)
			code, stdout, stderr := fx.run(t, "app", "cp", "app.example.org", src, dst)
			if code != tt.code || !strings.Contains(stderr, tt.say) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
			}
			for p, content := range tt.inCtr {
				if got, ok := fx.cluster.File(ctr, p); !ok || string(got) != content {
					t.Errorf("container %s = %q (%v), want %q", p, got, ok, content)
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
