package dashboard

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

// errorData is the error page: what happened and what to do.
type errorData struct {
	Error, Hint string
}

// fail renders the error page with the error's message and remedy.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		writeJSON(w, errorData{Error: err.Error(), Hint: hint.Of(err)})
		return
	}
	s.render(w, r, code, "error", "error", true, errorData{Error: err.Error(), Hint: hint.Of(err)})
}

// loadApp reads the app of the request's {domain}; an unknown one is 404.
func (s *Server) loadApp(w http.ResponseWriter, r *http.Request) (*app.App, bool) {
	a, err := s.Store.Get(r.PathValue("domain"))
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, app.ErrUnknown) {
			code = http.StatusNotFound
		}
		s.fail(w, r, code, err)
		return nil, false
	}
	return a, true
}

// timeout is the per-server bound of what a page asks a server.
func (s *Server) timeout() time.Duration { return cmp.Or(s.Timeout, 10*time.Second) }

// How long the dashboard trusts what it learnt about a server: a server
// that answered is asked again after aliveFor, one that did not is not
// waited for again before downFor (every page would wait its timeout).
const (
	aliveFor = time.Minute
	downFor  = 30 * time.Second
)

// serverState is what the dashboard knows about a server's connection.
type serverState struct {
	c       swarm.Cluster
	err     error
	checked time.Time
}

// connect reaches a server and checks that it answers (Info) within the
// page timeout: a server whose ssh target does not answer is "unreachable:
// reason" on the page, never a hang, and for downFor it is not waited for
// again. Clients are kept per server (their connections are reused).
func (s *Server) connect(ctx context.Context, server string) (swarm.Cluster, error) {
	s.mu.Lock()
	st := s.clusters[server]
	s.mu.Unlock()
	age := s.now().Sub(st.checked)
	switch {
	case st.err != nil && age < downFor:
		return nil, st.err
	case st.c != nil && st.err == nil && age < aliveFor:
		return st.c, nil
	}
	c, err := st.c, error(nil)
	if c == nil {
		c, err = s.answer(ctx, server, func(ctx context.Context) (swarm.Cluster, error) { return s.Connect(ctx, server) })
	}
	if err == nil {
		_, err = s.answer(ctx, server, func(ctx context.Context) (swarm.Cluster, error) { _, err := c.Info(ctx); return c, err })
	}
	if errors.Is(ctx.Err(), context.Canceled) { // the page went away: learn nothing
		return nil, err
	}
	s.mu.Lock()
	s.clusters[server] = serverState{c: c, err: err, checked: s.now()}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// answer runs ask within the page timeout; no answer in time is a
// ConnectError saying so.
func (s *Server) answer(ctx context.Context, server string, ask func(context.Context) (swarm.Cluster, error)) (swarm.Cluster, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	type result struct {
		c   swarm.Cluster
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ask(ctx)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-ctx.Done():
		return nil, &swarm.ConnectError{Server: server, Reason: "no answer within " + s.timeout().String()}
	}
}

// when is the template function for times: local, to the second; "–" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.Local().Format(time.DateTime)
}

func shortID(id string) string { return backup.ShortID(id) }

// deref is the template function for optional times.
func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
