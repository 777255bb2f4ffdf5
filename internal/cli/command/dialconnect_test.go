package command_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"

	"golang.org/x/crypto/ssh"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/sshdocker"
	"coopcloud.tech/abra/internal/sshdocker/sshdockertest"
)

// TestDialConnectTalksToDockerThroughSSH runs Docker's client over an
// in-process SSH connection to a server whose "docker socket" answers /_ping
// and /info as a swarm manager would.
func TestDialConnectTalksToDockerThroughSSH(t *testing.T) {
	api := http.NewServeMux()
	api.HandleFunc("/_ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Write([]byte("OK"))
	})
	api.HandleFunc("/v1.41/info", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"ServerVersion": "20.10.24", "Name": "node1",
			"Swarm": map[string]any{"LocalNodeState": "active", "ControlAvailable": true, "NodeID": "n1", "Nodes": 1},
		})
	})
	srv := sshdockertest.Start(t, sshdockertest.HTTP(t, api))
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	srv.Authorize(signer.PublicKey())
	hk, err := sshdocker.NewHostKeys(srv.KnownHostsLine())
	if err != nil {
		t.Fatal(err)
	}
	d := &sshdocker.Dialer{Signer: signer, HostKeys: hk}
	connect := command.DialConnect(func(ctx context.Context, server string) (command.DockerDialer, error) {
		tg, err := sshdocker.ParseTarget(server)
		if err != nil {
			return nil, err
		}
		c, err := d.Dial(ctx, tg)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	})
	c, err := connect(context.Background(), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.SwarmState != "active" || !info.IsManager || info.ServerVersion != "20.10.24" {
		t.Fatalf("info = %+v", info)
	}
}
