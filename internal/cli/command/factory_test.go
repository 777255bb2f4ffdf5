package command

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

func TestConnectErrorGivesSSHsReason(t *testing.T) {
	raw := errors.New(`command [ssh -o ConnectTimeout=30 -T -- srv.example.org docker system dial-stdio] has exited with exit status 255, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr=Warning: Permanently added 'x' to the list of known hosts.
ssh: connect to host srv.example.org port 22: Connection refused
`)
	// As the Docker client wraps it.
	err := fmt.Errorf("error during connect: Get \"http://docker.example.com/v1.41/info\": %w", connectError("srv.example.org", raw))
	var ce *swarm.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("no swarm.ConnectError in %v", err)
	}
	if want := "server srv.example.org: cannot connect: ssh: connect to host srv.example.org port 22: Connection refused"; ce.Error() != want {
		t.Fatalf("message = %q, want %q", ce.Error(), want)
	}
	if h := hint.Of(err); !strings.Contains(h, "abra server ls --status") || !strings.Contains(h, "ssh srv.example.org") {
		t.Fatalf("hint = %q", h)
	}
	if !errors.Is(err, raw) {
		t.Fatal("the full error is not kept for --debug")
	}
}
