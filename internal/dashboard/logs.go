package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/swarm"
)

// Log lines a page shows at most: the server-rendered page its last
// defaultTail (?tail= up to maxTail); the page's script keeps the last
// 1000 lines it streamed in.
const (
	defaultTail = 200
	maxTail     = 5000
)

type logsView struct {
	App     string        `json:"app"`
	Tail    int           `json:"tail"`
	Lines   []app.LogLine `json:"lines"`
	Error   string        `json:"error,omitempty"`
	Service string        `json:"service,omitempty"`
}

// logs is the app's last lines ('abra app logs --tail N'), server-rendered;
// the page's script follows /logs/events.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	a, ok := s.loadApp(w, r)
	if !ok {
		return
	}
	tail := defaultTail
	if n, err := strconv.Atoi(r.URL.Query().Get("tail")); err == nil && n > 0 {
		tail = min(n, maxTail)
	}
	v := logsView{App: a.Domain, Tail: tail, Lines: []app.LogLine{}, Service: r.URL.Query().Get("service")}
	ctx, cancel := context.WithTimeout(r.Context(), 2*s.timeout())
	defer cancel()
	c, err := s.connect(ctx, a.Server)
	if err == nil {
		err = app.Logs(ctx, c, a, v.Service, swarm.LogOptions{Tail: strconv.Itoa(tail)}, func(l app.LogLine) {
			if len(v.Lines) < maxTail*4 { // tail is per service: bound the whole
				v.Lines = append(v.Lines, l)
			}
		})
	}
	if err != nil {
		v.Error = swarm.Describe(err)
	}
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, v)
		return
	}
	s.renderTitled(w, r, http.StatusOK, "logs", s.text(s.language(r), "logs.heading")+" "+a.Domain, true, v)
}

// logEvents follows the app's logs as Server-Sent Events (one line each)
// until the browser leaves: every line is written and flushed as it comes,
// nothing is kept. Each event's id is the time the line was logged: a
// browser that reconnects (Last-Event-ID, or ?after=) gets the lines logged
// after the last one it received, without repeats; without one, the stream
// starts with the next line.
func (s *Server) logEvents(w http.ResponseWriter, r *http.Request) {
	a, ok := s.loadApp(w, r)
	if !ok {
		return
	}
	o := swarm.LogOptions{Follow: true, Tail: "0", Timestamps: true}
	var after time.Time
	if id := cmp.Or(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")); id != "" {
		t, err := time.Parse(time.RFC3339Nano, id)
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, fmt.Errorf("Last-Event-ID %q is not the time of a log line", id))
			return
		}
		after, o.Since, o.Tail = t, t, "all"
	}
	c, err := s.connect(r.Context(), a.Server)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	err = app.Logs(ctx, c, a, r.URL.Query().Get("service"), o, func(l app.LogLine) {
		if !after.IsZero() && !l.Time.After(after) {
			return // sent before the browser reconnected
		}
		data, _ := json.Marshal(l)
		if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", l.Time.Format(time.RFC3339Nano), data); err != nil {
			cancel() // the browser left
			return
		}
		_ = rc.Flush()
	})
	if err != nil && ctx.Err() == nil {
		data, _ := json.Marshal(map[string]string{"error": swarm.Describe(err)})
		fmt.Fprintf(w, "event: failure\ndata: %s\n\n", data)
		_ = rc.Flush()
	}
}
