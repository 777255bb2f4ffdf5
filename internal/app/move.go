package app

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/atomicfile"
	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/secret"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/swarm"
)

// ErrMoveVerify: the data on the new server is not byte-identical to the backup.
var ErrMoveVerify = errors.New("data on the new server differs from the backup")

// MoveOptions are the choices of `abra app move`.
type MoveOptions struct {
	To        string // the registered server to move to
	DryRun    bool   // check and plan; change nothing
	RemoveOld bool   // remove the app's volumes and secrets on the old server at the end
}

// MoveResult says what a move did (or, with DryRun, would do).
type MoveResult struct {
	App           string   `json:"app"`
	From          string   `json:"from"`
	To            string   `json:"to"`
	Version       string   `json:"version"`
	Plan          []string `json:"plan"`
	Snapshot      string   `json:"snapshot,omitempty"`
	Files         int      `json:"files"`
	Bytes         int64    `json:"bytes"`
	SecretsCopied []string `json:"secrets_copied"`
	EnvFile       string   `json:"env_file,omitempty"`
	// OldVolumes and OldSecrets are what stays on the old server (unless RemoveOld).
	OldVolumes []string `json:"old_volumes"`
	OldSecrets []string `json:"old_secrets"`
	Removed    bool     `json:"removed_old"`
}

// Mover moves an app from its server to another: a backup on the old server,
// a deploy of the same version on the new one, the backup's data copied there
// and checked byte for byte, and only then the old deploy undeployed and the
// env file moved. Until then the app keeps running on the old server.
type Mover struct {
	Store    Store
	Old, New swarm.Cluster
	Observer step.Observer
	// Backups receives the backup service's events; Logs its stderr.
	Backups BackupObserver
	Logs    io.Writer
	// Deploy deploys a (whose Server is the new server) at version on New and
	// waits until it runs; the CLI passes a Deployer's Deploy.
	Deploy func(ctx context.Context, a *App, version string) error
	// Secrets lists the app's secrets marked as existing on a cluster
	// (default: the package's Secrets, from the recipe at the pinned version).
	Secrets func(ctx context.Context, c swarm.Cluster, a *App) ([]secret.Secret, error)
	// Wait bounds stopping and starting the services on the new server (default 5m).
	Wait time.Duration
	Poll time.Duration // default 1s
}

func (m *Mover) note(stepName, format string, args ...any) {
	if m.Observer != nil {
		m.Observer.Note(stepName, fmt.Sprintf(format, args...))
	}
}

// movedFile is a regular file of the backup: its hash and size.
type movedFile struct {
	sum  string
	size int64
}

// Move moves the app to o.To. On failure before the old deploy is undeployed
// the app runs on its old server as before; the error says what state the new
// server is left in and how to retry.
func (m *Mover) Move(ctx context.Context, a *App, o MoveOptions) (*MoveResult, error) {
	from, to, stackName := a.Server, o.To, a.StackName()
	res := &MoveResult{App: a.Domain, From: from, To: to, SecretsCopied: []string{}}
	var (
		oldBot, newBot BackupService
		missing        []secret.Secret
		snapshot       string
		tmp            string
		files          = map[string]movedFile{}
		secretValues   = map[string][]byte{}
		volumeRoots    []string
		replicas       = map[string]uint64{}
		deployedNew    bool
		scaledDown     bool
		oldGone        bool
	)
	defer func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}()
	newApp := *a
	newApp.Server = to
	newPath := filepath.Join(m.Store.Servers().Path(to), filepath.Base(a.Path))
	b := &Backups{Cluster: m.Old, Observer: m.Backups, Logs: m.Logs}

	check := []step.Step{
		{Name: "check", Run: func(ctx context.Context) error {
			if to == from {
				return hint.With(fmt.Errorf("%s already lives on server %s", a.Domain, to), "name another server: 'abra server ls'")
			}
			if err := m.Store.Servers().Check(to); err != nil {
				return err
			}
			if _, err := os.Stat(newPath); err == nil {
				return hint.With(fmt.Errorf("%s already exists", newPath), "an app lives on one server: remove the stale env file on "+to+" first")
			}
			st, err := DeployedState(ctx, m.Old, stackName)
			if err != nil {
				return fmt.Errorf("server %s: %w", from, err)
			}
			if !st.Deployed {
				return hint.With(fmt.Errorf("%s is %w on %s: there is nothing running to move", a.Domain, ErrNotDeployed, from),
					fmt.Sprintf("move the env file yourself (mv %s %s), or deploy it first", a.Path, newPath))
			}
			if st.Chaos {
				return hint.With(fmt.Errorf("%s runs a chaos deploy (%s) on %s: a move deploys a release", a.Domain, st.ChaosVersion, from),
					"deploy a release first ('abra app deploy "+a.Domain+" <version>'), then move")
			}
			res.Version = a.PinnedVersion()
			if res.Version == "" {
				res.Version = st.Version
			}
			if st.Version != "" && res.Version != st.Version {
				return hint.With(fmt.Errorf("%s runs %s on %s but its env file pins %s", a.Domain, st.Version, from, res.Version),
					"deploy the pinned version first ('abra app deploy "+a.Domain+"'), so the move deploys what runs")
			}
			enabled, err := BackupServices(ctx, m.Old, a)
			if err != nil {
				return err
			}
			if len(enabled) == 0 {
				return hint.With(fmt.Errorf("%w: no service of %s has %s=true, so its data cannot be moved", ErrBackupsDisabled, a.Domain, BackupLabel),
					"add the deploy label "+BackupLabel+"=true to the services holding data, redeploy, then move")
			}
			if oldBot, err = FindBackupService(ctx, m.Old, from); err != nil {
				return fmt.Errorf("server %s: %w", from, err)
			}
			if err := CheckManager(ctx, m.New, to); err != nil {
				return err
			}
			if newBot, err = FindBackupService(ctx, m.New, to); err != nil {
				return fmt.Errorf("server %s: %w", to, err)
			}
			if st, err := DeployedState(ctx, m.New, stackName); err != nil {
				return fmt.Errorf("server %s: %w", to, err)
			} else if st.Deployed {
				return hint.With(fmt.Errorf("stack %s is already deployed on %s", stackName, to),
					"undeploy it there first; nothing was changed")
			}
			if vols, err := m.New.Volumes(ctx, stackName); err != nil {
				return fmt.Errorf("server %s: %w", to, err)
			} else if len(vols) > 0 {
				return hint.With(fmt.Errorf("server %s already has volumes of %s: %s; a move does not overwrite data", to, stackName, strings.Join(vols, ", ")),
					fmt.Sprintf("if they are leftovers, remove them on %s ('docker volume rm %s') and move again; nothing was changed", to, strings.Join(vols, " ")))
			}
			m.note("check", "%s runs %s on %s with backups of %s; backup services %s (%s) and %s (%s)",
				a.Domain, res.Version, from, strings.Join(enabled, ", "), oldBot.Name, from, newBot.Name, to)
			return nil
		}},
		{Name: "check secrets", Run: func(ctx context.Context) error {
			list := m.Secrets
			if list == nil {
				list = func(ctx context.Context, c swarm.Cluster, a *App) ([]secret.Secret, error) {
					return Secrets(ctx, m.Store, c, a, false)
				}
			}
			secrets, err := list(ctx, m.New, &newApp)
			if err != nil {
				return err
			}
			for _, s := range secrets {
				if !s.Exists {
					missing = append(missing, s)
				}
			}
			if len(missing) == 0 {
				m.note("check secrets", "%d secrets already on %s", len(secrets), to)
				return nil
			}
			if err := secret.MarkExisting(ctx, m.Old, missing); err != nil {
				return fmt.Errorf("server %s: %w", from, err)
			}
			var absent []string
			for _, s := range missing {
				if !s.Exists {
					absent = append(absent, s.DockerName)
				}
			}
			if len(absent) > 0 {
				return hint.With(fmt.Errorf("secrets %s exist on neither %s nor %s", strings.Join(absent, ", "), from, to),
					"create them on "+to+", e.g. printf %s VALUE | docker -H ssh://"+to+" secret create <name> -; nothing was changed")
			}
			m.note("check secrets", "%s: copied from the running services through the backup service", dockerNames(missing))
			return nil
		}},
	}
	res.Plan = []string{
		fmt.Sprintf("back up %s on %s (backup service)", a.Domain, from),
		"download the snapshot's volumes (and the secrets missing on " + to + ")",
		fmt.Sprintf("create the missing secrets on %s", to),
		fmt.Sprintf("deploy %s %s on %s", a.Domain, "<version>", to),
		fmt.Sprintf("stop it on %s, copy the data into its volumes, check every file's sha256, start it", to),
		fmt.Sprintf("undeploy %s on %s (volumes and secrets stay)", a.Domain, from),
		fmt.Sprintf("move the env file to %s", newPath),
	}
	if o.RemoveOld {
		res.Plan = append(res.Plan, fmt.Sprintf("remove the volumes and secrets of %s on %s", a.Domain, from))
	}
	if err := step.Run(ctx, m.Observer, check...); err != nil {
		return res, fmt.Errorf("move %s to %s: %w", a.Domain, to, err)
	}
	res.Plan[1] = "download the snapshot's volumes"
	res.Plan[2] = fmt.Sprintf("secrets on %s: all there", to)
	if len(missing) > 0 {
		res.Plan[1] += " and the secrets " + dockerNames(missing)
		res.Plan[2] = fmt.Sprintf("create %s on %s with the values the services on %s use", dockerNames(missing), to, from)
	}
	res.Plan[3] = fmt.Sprintf("deploy %s %s on %s", a.Domain, res.Version, to)
	if o.DryRun {
		return res, nil
	}

	steps := []step.Step{
		{Name: "back up", Run: func(ctx context.Context) error {
			r, err := b.Create(ctx, a, CreateBackupOptions{Tags: []string{"move", "to:" + to}})
			if err != nil {
				return err
			}
			snapshot = r.SnapshotID
			res.Snapshot = snapshot
			m.note("back up", "snapshot %s on %s: %d files, %d bytes", backup.ShortID(snapshot), from, r.Files, r.Bytes)
			return nil
		}},
		{Name: "download", Run: func(ctx context.Context) error {
			var err error
			if tmp, err = os.MkdirTemp("", "abra-move-"); err != nil {
				return err
			}
			raw := filepath.Join(tmp, "snapshot.tar")
			f, err := os.OpenFile(raw, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			manifest := (&backup.Bot{}).ManifestPath(stackName)
			err = b.Download(ctx, a, DownloadOptions{Snapshot: snapshot, Volumes: true, Secrets: len(missing) > 0, IncludePaths: []string{manifest}}, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			var man *backup.Manifest
			man, volumeRoots, err = splitSnapshot(raw, filepath.Join(tmp, "volumes.tar"), stackName, manifest, files, secretValues)
			if err != nil {
				return err
			}
			for _, f := range files {
				res.Files++
				res.Bytes += f.size
			}
			if man == nil {
				m.note("download", "the snapshot has no manifest: files are compared with the snapshot itself")
				return nil
			}
			var lost []string
			changed := 0
			for _, e := range man.Files {
				got, ok := files[e.Path]
				switch {
				case !ok:
					lost = append(lost, e.Path)
				case got.sum != e.SHA256:
					changed++ // changed while it was backed up: the snapshot holds what restic read
				}
			}
			if len(lost) > 0 {
				return fmt.Errorf("snapshot %s lacks %d files its manifest records: %s", backup.ShortID(snapshot), len(lost), strings.Join(first(lost, 5), ", "))
			}
			m.note("download", "%d files, %d bytes in %s; the manifest's %d files are all there (%d changed while backed up)",
				res.Files, res.Bytes, strings.Join(volumeRoots, ", "), len(man.Files), changed)
			return nil
		}},
		{Name: "copy secrets", Run: func(ctx context.Context) error {
			var notFound []string
			for _, s := range missing {
				if _, ok := secretValues[s.Name]; !ok {
					notFound = append(notFound, s.DockerName)
				}
			}
			if len(notFound) > 0 {
				return hint.With(fmt.Errorf("the services with backups enabled on %s do not use %s, so their values cannot be read", from, strings.Join(notFound, ", ")),
					"create them on "+to+" with the values from "+from+" (printf %s VALUE | docker -H ssh://"+to+" secret create <name> -), then move again")
			}
			for _, s := range missing {
				if err := secret.Create(ctx, m.New, stackName, s, string(secretValues[s.Name])); err != nil {
					return fmt.Errorf("server %s: create secret %s: %w", to, s.DockerName, err)
				}
				res.SecretsCopied = append(res.SecretsCopied, s.DockerName)
			}
			if len(missing) > 0 {
				m.note("copy secrets", "created on %s: %s", to, strings.Join(res.SecretsCopied, ", "))
			}
			return nil
		}},
		{Name: "deploy on " + to, Run: func(ctx context.Context) error {
			deployedNew = true
			return m.Deploy(ctx, &newApp, res.Version)
		}},
		{Name: "stop on " + to, Run: func(ctx context.Context) error {
			scaledDown = true
			return m.scale(ctx, stackName, replicas, true)
		}},
		{Name: "copy data", Run: func(ctx context.Context) error {
			f, err := os.Open(filepath.Join(tmp, "volumes.tar"))
			if err != nil {
				return err
			}
			defer f.Close()
			if err := m.New.CopyTo(ctx, newBot.ContainerID, "/", f); err != nil {
				return fmt.Errorf("server %s: copy into %s: %w", to, newBot.Name, err)
			}
			return nil
		}},
		{Name: "verify data", Run: func(ctx context.Context) error {
			got := map[string]movedFile{}
			for _, root := range volumeRoots {
				if err := hashContainerTree(ctx, m.New, newBot.ContainerID, root, got); err != nil {
					return fmt.Errorf("server %s: read %s: %w", to, root, err)
				}
			}
			var bad []string
			for p, want := range files {
				g, ok := got[p]
				switch {
				case !ok:
					bad = append(bad, p+": missing")
				case g != want:
					bad = append(bad, fmt.Sprintf("%s: %d bytes sha256 %.12s, backup has %d bytes sha256 %.12s", p, g.size, g.sum, want.size, want.sum))
				}
			}
			for p := range got {
				if _, ok := files[p]; !ok {
					bad = append(bad, p+": not in the backup (written on "+to+" before the copy)")
				}
			}
			slices.Sort(bad)
			if len(bad) > 0 {
				return fmt.Errorf("%w: %d of %d files: %s", ErrMoveVerify, len(bad), len(files), strings.Join(first(bad, 5), "; "))
			}
			m.note("verify data", "%d files, %d bytes on %s have the backup's sha256", res.Files, res.Bytes, to)
			return nil
		}},
		{Name: "start on " + to, Run: func(ctx context.Context) error {
			scaledDown = false
			return m.scale(ctx, stackName, replicas, false)
		}},
		{Name: "undeploy on " + from, Run: func(ctx context.Context) error {
			if err := Undeploy(ctx, m.Old, a, nil); err != nil {
				return err
			}
			oldGone = true
			return nil
		}},
		{Name: "move env file", Run: func(ctx context.Context) error {
			if err := m.moveEnv(ctx, a, newPath); err != nil {
				return err
			}
			res.EnvFile = newPath
			return nil
		}},
	}
	err := step.Run(ctx, m.Observer, steps...)
	if err == nil && o.RemoveOld {
		err = step.Run(ctx, m.Observer, step.Step{Name: "remove on " + from, Run: func(ctx context.Context) error {
			l, err := FindLeftovers(ctx, m.Old, a)
			if err != nil {
				return err
			}
			for _, v := range l.Volumes {
				if err := m.Old.RemoveVolume(ctx, v); err != nil && !errors.Is(err, swarm.ErrNotFound) {
					return fmt.Errorf("remove volume %s: %w", v, err)
				}
			}
			for _, s := range l.secrets {
				if err := m.Old.RemoveSecret(ctx, s.ID); err != nil && !errors.Is(err, swarm.ErrNotFound) {
					return fmt.Errorf("remove secret %s: %w", s.Name, err)
				}
			}
			res.Removed = true
			return nil
		}})
		if err != nil {
			return res, hint.With(fmt.Errorf("move %s to %s: done, but: %w", a.Domain, to, err),
				fmt.Sprintf("the app runs on %s; remove what is left on %s by hand ('docker volume ls' / 'docker secret ls' there, names starting with %s_)", to, from, stackName))
		}
	}
	if err == nil {
		if l, lerr := FindLeftovers(ctx, m.Old, a); lerr == nil {
			res.OldVolumes, res.OldSecrets = l.Volumes, l.Secrets
		}
		return res, nil
	}
	err = fmt.Errorf("move %s to %s: %w", a.Domain, to, err)
	inner := hint.Of(err)
	// The failing step's own remedy first, then the state things are in.
	withState := func(state string) error {
		if inner != "" {
			state = inner + ". " + state
		}
		return hint.With(err, state)
	}
	bg := context.WithoutCancel(ctx)
	switch {
	case oldGone:
		// Undeployed on the old server, env file not moved: the app runs on the new one.
		return res, withState(fmt.Sprintf("the app runs on %s and is undeployed on %s; finish by moving the env file: mv %s %s", to, from, a.Path, newPath))
	case deployedNew:
		var state string
		if scaledDown {
			_ = m.scale(bg, stackName, replicas, false)
		}
		if uerr := Undeploy(bg, m.New, &newApp, nil); uerr != nil {
			state = fmt.Sprintf("undeploying the copy on %s failed too (%v): remove it there with 'docker stack rm %s'", to, uerr, stackName)
		} else {
			state = fmt.Sprintf("the copy on %s was undeployed", to)
			if vols, verr := m.New.Volumes(bg, stackName); verr == nil && len(vols) > 0 {
				// They hold a copy made by this move (none existed before it): a retry needs them gone.
				var left []string
				for _, v := range vols {
					if rerr := m.New.RemoveVolume(bg, v); rerr != nil {
						left = append(left, v)
					}
				}
				if len(left) > 0 {
					state += "; its volumes " + strings.Join(left, ", ") + " could not be removed (remove them before retrying)"
				} else {
					state += " and the volumes this move created there removed"
				}
			}
		}
		return res, withState(fmt.Sprintf("%s still runs on %s, unchanged (snapshot %s was taken there); %s. Retry with 'abra app move %s %s'",
			a.Domain, from, backup.ShortID(snapshot), state, a.Domain, to))
	}
	return res, withState(fmt.Sprintf("%s still runs on %s, unchanged; nothing was deployed on %s. Retry with 'abra app move %s %s'", a.Domain, from, to, a.Domain, to))
}

func dockerNames(ss []secret.Secret) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.DockerName)
	}
	return strings.Join(out, ", ")
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// moveEnv writes the env file under the new server's folder, then removes the
// old one, under the env-file lock.
func (m *Mover) moveEnv(ctx context.Context, a *App, newPath string) error {
	unlock, err := m.Store.lockEnv(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	data, err := os.ReadFile(a.Path)
	if err != nil {
		return err
	}
	st, err := os.Stat(a.Path)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(newPath, data, st.Mode().Perm()); err != nil {
		return fmt.Errorf("write %s: %w", newPath, err)
	}
	if err := os.Remove(a.Path); err != nil {
		return fmt.Errorf("remove %s (the copy %s is written): %w", a.Path, newPath, err)
	}
	a.Path = newPath
	return nil
}

// splitSnapshot reads the downloaded tar: the files under the app's volume
// roots go to a new tar (relative names, for CopyTo at "/") and are hashed
// into files, secrets/<service>/<name> entries into secrets, and the manifest
// is decoded. It returns the volume roots (<root>/<volume>/_data) seen.
func splitSnapshot(raw, out, stackName, manifestPath string, files map[string]movedFile, secrets map[string][]byte) (*backup.Manifest, []string, error) {
	in, err := os.Open(raw)
	if err != nil {
		return nil, nil, err
	}
	defer in.Close()
	of, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return nil, nil, err
	}
	defer of.Close()
	tw := tar.NewWriter(of)
	tr := tar.NewReader(in)
	var man *backup.Manifest
	var roots []string
	prefix := backup.DefaultVolumeRoot + "/" + stackName + "_"
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read the snapshot: %w", err)
		}
		if rest, ok := strings.CutPrefix(strings.TrimPrefix(h.Name, "/"), "secrets/"); ok {
			if h.Typeflag == tar.TypeReg {
				if _, name, ok := strings.Cut(rest, "/"); ok && !strings.Contains(name, "/") {
					b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
					if err != nil {
						return nil, nil, err
					}
					secrets[name] = b
				}
			}
			continue
		}
		abs := path.Clean("/" + h.Name)
		if abs == manifestPath {
			if man, err = backup.ReadManifest(tr); err != nil {
				return nil, nil, fmt.Errorf("read the snapshot's manifest: %w", err)
			}
			continue
		}
		rest, ok := strings.CutPrefix(abs, prefix)
		if !ok {
			continue
		}
		vol, sub, _ := strings.Cut(rest, "/")
		if sub != "_data" && !strings.HasPrefix(sub, "_data/") {
			continue // the volume's own directory belongs to the new server's Docker
		}
		root := prefix + vol + "/_data"
		if !slices.Contains(roots, root) {
			roots = append(roots, root)
		}
		h.Name = strings.TrimPrefix(abs, "/")
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, nil, err
		}
		if h.Typeflag == tar.TypeReg {
			sum := sha256.New()
			n, err := io.Copy(io.MultiWriter(tw, sum), tr)
			if err != nil {
				return nil, nil, fmt.Errorf("read the snapshot: %s: %w", abs, err)
			}
			files[abs] = movedFile{sum: hex.EncodeToString(sum.Sum(nil)), size: n}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	if len(roots) == 0 {
		return nil, nil, fmt.Errorf("the snapshot holds no volume of %s", stackName)
	}
	slices.Sort(roots)
	return man, roots, of.Sync()
}

// hashContainerTree hashes the regular files under root (a directory) in a
// container, keyed by their absolute paths.
func hashContainerTree(ctx context.Context, c swarm.Cluster, container, root string, out map[string]movedFile) error {
	rc, err := c.CopyFrom(ctx, container, root)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	base := path.Base(root)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		rel, ok := strings.CutPrefix(path.Clean(h.Name), base+"/")
		if !ok {
			continue
		}
		sum := sha256.New()
		n, err := io.Copy(sum, tr)
		if err != nil {
			return err
		}
		out[path.Join(root, rel)] = movedFile{sum: hex.EncodeToString(sum.Sum(nil)), size: n}
	}
}

// scale stops (down) the stack's replicated services on the new server,
// recording their replicas, or puts the recorded replicas back, and waits
// until their containers are gone, or run (and are healthy).
func (m *Mover) scale(ctx context.Context, stackName string, replicas map[string]uint64, down bool) error {
	svcs, err := m.New.Services(ctx, stackName)
	if err != nil {
		return err
	}
	for _, svc := range svcs {
		r := svc.Spec.Mode.Replicated
		if r == nil || r.Replicas == nil {
			continue
		}
		want, ok := replicas[svc.Spec.Name]
		if down {
			replicas[svc.Spec.Name] = *r.Replicas
			want = 0
		} else if !ok {
			continue
		}
		if *r.Replicas == want {
			continue
		}
		spec := svc.Spec
		mode := *r
		mode.Replicas = &want
		spec.Mode = mobyswarm.ServiceMode{Replicated: &mode}
		if _, err := m.New.UpdateService(ctx, svc, spec, false); err != nil {
			return fmt.Errorf("scale %s to %d: %w", svc.Spec.Name, want, err)
		}
	}
	timeout := m.Wait
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	poll := m.Poll
	if poll == 0 {
		poll = time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		cs, err := m.New.Containers(ctx, stackName)
		if err != nil {
			return err
		}
		var waiting []string
		for name, n := range replicas {
			running := uint64(0)
			for _, c := range cs {
				if c.Labels["com.docker.swarm.service.name"] == name && c.State == "running" && (down || c.Health == "" || c.Health == "healthy") {
					running++
				}
			}
			if down && running > 0 || !down && running < n {
				waiting = append(waiting, name)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			what := "stop"
			if !down {
				what = "run (healthy)"
			}
			slices.Sort(waiting)
			return fmt.Errorf("%s did not %s within %s", strings.Join(waiting, ", "), what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// MarshalJSON keeps the lists non-null.
func (r MoveResult) MarshalJSON() ([]byte, error) {
	type plain MoveResult
	p := plain(r)
	for _, l := range []*[]string{&p.Plan, &p.SecretsCopied, &p.OldVolumes, &p.OldSecrets} {
		if *l == nil {
			*l = []string{}
		}
	}
	return json.Marshal(p)
}
