package sshsftp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestOpenSSHServer runs the client against the real sshd with its
// internal-sftp, and exchanges SFTP's INIT and VERSION packets, as restic's
// first step does. It needs /usr/sbin/sshd and root (sshd's privilege
// separation); under CI (CI=true) a missing sshd is a failure, not a skip:
// scripts/test.sh installs openssh-server.
func TestOpenSSHServer(t *testing.T) {
	const sshd = "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v (scripts/test.sh installs openssh-server)", sshd, err)
		}
		t.Skipf("%s: %v", sshd, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd needs root")
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	hostKey, hostPriv := newEd25519(t)
	writeKey(t, filepath.Join(dir, "host_key"), hostPriv, "")
	client, clientPriv := newEd25519(t)
	writeKey(t, filepath.Join(home, ".ssh", "id_ed25519"), clientPriv, "")
	writeFile(t, filepath.Join(dir, "authorized_keys"), string(ssh.MarshalAuthorizedKey(client.PublicKey())))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	writeFile(t, filepath.Join(home, ".ssh", "known_hosts"), knownhosts.Line([]string{"127.0.0.1:" + port}, hostKey.PublicKey())+"\n")
	writeFile(t, filepath.Join(dir, "sshd_config"), fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
HostKey %[2]s/host_key
AuthorizedKeysFile %[2]s/authorized_keys
PidFile %[2]s/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
`, port, dir))
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "sshd.log")
	cmd := exec.Command(sshd, "-D", "-f", filepath.Join(dir, "sshd_config"), "-E", logFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	sshdLog := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	for { // until sshd listens (or dies)
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("sshd exited: %v\n%s", err, sshdLog())
		case <-time.After(20 * time.Millisecond):
		}
	}

	env := Env{Home: home, User: "nobody", ConfigFiles: []string{filepath.Join(home, ".ssh", "config")}}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errs := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(env, []string{"127.0.0.1", "-p", port, "-l", me.Username, "-s", "sftp"}, inR, outW, errs)
		outW.Close()
	}()
	// SSH_FXP_INIT, version 3: length 5, type 1, version.
	go func() { _, _ = inW.Write([]byte{0, 0, 0, 5, 1, 0, 0, 0, 3}) }()
	var n uint32
	if err := binary.Read(outR, binary.BigEndian, &n); err != nil {
		t.Fatalf("reading the VERSION packet: %v\nssh: %s\nsshd: %s", err, errs, sshdLog())
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(outR, body); err != nil {
		t.Fatal(err)
	}
	if n < 5 || body[0] != 2 || binary.BigEndian.Uint32(body[1:5]) != 3 {
		t.Errorf("got packet % x, want SSH_FXP_VERSION (2) version 3", body)
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	inW.Close() // EOF: internal-sftp ends, and so does the session
	if code := <-done; code != 0 {
		t.Errorf("exit %d; stderr: %s", code, errs)
	}
}

// lockedBuffer is a stderr that the test may read while Run writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
