package dashboard

import (
	"context"
	"slices"
	"sync"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/backup"
)

// snapshotTTL is how long a server's snapshot list is kept: reading it opens
// the repository (a key derivation, a second or more), and the fleet page is
// read far more often than apps are backed up.
const snapshotTTL = 2 * time.Minute

// lastBackups maps each app's stack to its newest snapshot (safety snapshots
// left out), from one listing per server, asked concurrently and kept for
// snapshotTTL. A server without a backup service has no entries.
func (s *Server) lastBackups(ctx context.Context, servers []string) map[string]app.Snapshot {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	lists := make([][]app.Snapshot, len(servers))
	var wg sync.WaitGroup
	for i, name := range servers {
		if snaps, ok := s.snapshots.get(name, snapshotTTL, s.now()); ok {
			lists[i] = snaps
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.connect(ctx, name)
			if err == nil {
				lists[i], err = (&app.Backups{Cluster: c}).ListServer(ctx, name)
			}
			if err != nil {
				lists[i] = nil
			}
			s.snapshots.put(name, lists[i], s.now()) // nil: no backup service, or it did not answer
		}()
	}
	wg.Wait()
	out := map[string]app.Snapshot{}
	for _, snaps := range lists {
		for _, sn := range snaps { // oldest first: the newest wins
			if !slices.Contains(sn.Tags, backup.TagSafety) {
				out[sn.App] = sn
			}
		}
	}
	return out
}

// forgetSnapshots drops a server's kept list once an action backed up or restored there.
func (s *Server) forgetSnapshots(server string) {
	s.snapshots.forget(server)
}
