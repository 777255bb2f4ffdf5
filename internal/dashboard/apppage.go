package dashboard

import (
	"cmp"
	"context"
	"net/http"
	"slices"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/secret"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/update"
)

// appView is an app's page; ?format=json gives it with the fields of the
// CLI's --json where a verb has one: tasks ('app ps'), errors ('app
// errors'), secrets ('app secret ls'), backups ('app backup ls'), history
// records ('app history'), lock ('app lock'), missing keys ('app check').
type appView struct {
	App         string             `json:"app"`
	Server      string             `json:"server"`
	Recipe      string             `json:"recipe"`
	Pinned      string             `json:"pinned_version"`
	Deployed    bool               `json:"deployed"`
	Version     string             `json:"version,omitempty"`
	Chaos       string             `json:"chaos_version,omitempty"`
	Upgrade     string             `json:"upgrade,omitempty"`
	Unreachable string             `json:"unreachable,omitempty"`
	Tasks       []app.Task         `json:"tasks"`
	Errors      []app.ServiceError `json:"errors"`
	Config      []app.EnvVar       `json:"config"`
	Missing     []string           `json:"missing_keys"`
	Secrets     []secret.Secret    `json:"secrets"`
	Backups     []app.Snapshot     `json:"backups"`
	// LastVerified is the newest update whose pre-upgrade backup was taken
	// and verified by restoring it (the update pipeline's verified backup).
	LastVerified *update.Record `json:"last_verified_backup,omitempty"`
	History      []opView       `json:"history"`
	Lock         *app.LockView  `json:"lock"`
	// Problems are the parts that could not be read, by part.
	Problems              map[string]string `json:"problems,omitempty"`
	NoDomainChecksDefault bool              `json:"-"`
}

func (s *Server) appPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.loadApp(w, r)
	if !ok {
		return
	}
	v := s.appData(r.Context(), a)
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, v)
		return
	}
	s.renderTitled(w, r, http.StatusOK, "app", a.Domain, true, v)
}

// appData reads everything the app page shows; a part that fails is named
// in Problems and the others are still shown.
func (s *Server) appData(ctx context.Context, a *app.App) appView {
	v := appView{App: a.Domain, Server: a.Server, Recipe: a.Recipe(), Pinned: a.PinnedVersion(),
		Tasks: []app.Task{}, Errors: []app.ServiceError{}, Missing: []string{}, Secrets: []secret.Secret{}, Backups: []app.Snapshot{},
		History: []opView{}, Problems: map[string]string{}}
	problem := func(part string, err error) { v.Problems[part] = swarm.Describe(err) }
	ctx, cancel := context.WithTimeout(ctx, 2*s.timeout())
	defer cancel()
	v.History = append(v.History, s.journalOps(a.Domain)...)
	c, err := s.connect(ctx, a.Server)
	if err == nil {
		_, err = app.DeployedState(ctx, c, a.StackName()) // the first question: is it there at all
	}
	names := []string{}
	if err != nil {
		v.Unreachable = swarm.Describe(err)
	} else {
		s.serverData(ctx, c, a, &v, problem)
		for _, sec := range v.Secrets {
			names = append(names, sec.Name)
		}
	}
	v.Config = app.ShownEnv(a, names)
	if newest := s.newestRelease(a); newest != "" || a.PinnedVersion() != "" {
		if missing, err := s.Store.MissingKeys(ctx, a, cmp.Or(newest, a.PinnedVersion()), false); err != nil {
			problem("missing_keys", err)
		} else {
			v.Missing = missing
		}
	}
	slices.SortFunc(v.History, func(x, y opView) int { return y.Started.Compare(x.Started) })
	return v
}

// serverData fills what the app's server says: state, tasks, errors,
// secrets (names and versions only), backups, update records and the lock.
func (s *Server) serverData(ctx context.Context, c swarm.Cluster, a *app.App, v *appView, problem func(string, error)) {
	if st, err := app.DeployedState(ctx, c, a.StackName()); err == nil {
		v.Deployed, v.Version, v.Chaos = st.Deployed, cmp.Or(st.Release(a), st.Version), st.ChaosVersion
	}
	if v.Deployed {
		if vc, err := s.Store.PlanVersionChange(ctx, c, a, app.Up, ""); err == nil {
			v.Upgrade = vc.Target.Tag
		}
	}
	if ts, err := app.Tasks(ctx, c, a); err != nil {
		problem("tasks", err)
	} else if ts != nil {
		v.Tasks = ts
	}
	if es, err := app.Errors(ctx, c, a); err != nil {
		problem("errors", err)
	} else if es != nil {
		v.Errors = es
	}
	if ss, err := app.Secrets(ctx, s.Store, c, a, false); err != nil {
		problem("secrets", err)
	} else if ss != nil {
		v.Secrets = ss
	}
	if snaps, err := (&app.Backups{Cluster: c}).List(ctx, a); err != nil {
		problem("backups", err)
	} else if snaps != nil {
		v.Backups = snaps
		slices.SortFunc(v.Backups, func(x, y app.Snapshot) int { return y.Time.Compare(x.Time) })
	}
	if recs, err := (update.Records{Cluster: c}).List(ctx, a.StackName()); err != nil {
		problem("history", err)
	} else {
		v.LastVerified = lastVerified(recs, a.StackName())
		for _, rec := range recs {
			v.History = append(v.History, recordOp(rec))
		}
	}
	l, locked, err := app.ReadLock(ctx, c, a.StackName())
	if err != nil {
		problem("lock", err)
	}
	lv := l.View(a.Domain, locked)
	v.Lock = &lv
}

// lastVerified is the newest of the stack's update records (newest first)
// whose pre-upgrade backup was taken and verified by restoring it: the
// pipeline records the snapshot once it passed verification.
func lastVerified(recs []update.Record, stack string) *update.Record {
	for _, rec := range recs {
		if rec.Stack == stack && rec.Snapshot != "" && rec.State != update.BackingUp && rec.State != update.Abandoned {
			return &rec
		}
	}
	return nil
}

// newestRelease is the newest release in the recipe's local clone ("" when
// there is none): no network.
func (s *Server) newestRelease(a *app.App) string {
	repo, err := s.Store.AppRecipe(a)
	if err != nil {
		return ""
	}
	rels, err := repo.Versions()
	if err != nil || len(rels) == 0 {
		return ""
	}
	return slices.MaxFunc(rels, func(x, y recipe.Release) int { return x.Version.Compare(y.Version) }).Tag
}

// recordOp is an update operation record of the server as a history entry,
// labelled by its trigger.
func recordOp(rec update.Record) opView {
	o := opView{ID: rec.ID, Command: "upgrade", App: rec.App, Server: rec.Server, Actor: rec.Actor, Started: rec.Started,
		Running: !rec.State.Final(), Step: rec.Step, Origin: cmp.Or(rec.Trigger, "server"), From: rec.From, To: rec.To, State: string(rec.State)}
	if rec.State != update.Succeeded {
		o.Error = rec.Error
	}
	return o
}

// journalOps are this machine's journalled operations of one app ("" for
// all), newest first.
func (s *Server) journalOps(domain string) []opView {
	var out []opView
	if s.Journal == nil {
		return out
	}
	events, _, err := s.Journal.Read("", 0)
	if err != nil {
		return out
	}
	for _, o := range collectOps(events) {
		if domain == "" || o.App == domain {
			out = append(out, o)
		}
	}
	return out
}
