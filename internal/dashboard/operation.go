package dashboard

import (
	"fmt"
	"net/http"
	"time"

	"coopcloud.tech/abra/internal/journal"
	"coopcloud.tech/abra/internal/update"
)

// stepView is one step of an operation with its notes.
type stepView struct {
	Name    string   `json:"name"`
	State   string   `json:"state"` // running, ok, failed
	Error   string   `json:"error,omitempty"`
	Elapsed float64  `json:"elapsed,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

// operationView is one operation from the journal: its steps and, once
// ended, its result.
type operationView struct {
	opView
	Steps   []stepView `json:"steps"`
	Ended   bool       `json:"ended"`
	Outcome string     `json:"outcome,omitempty"` // converged, rolled-back, failed, done, interrupted; "" when not verified
	Version string     `json:"version,omitempty"` // what the server runs afterwards (verified)
	Message string     `json:"message,omitempty"` // the CLI's closing line of a success
	Hint    string     `json:"hint,omitempty"`    // the recovery command, as the CLI prints it
	After   string     `json:"-"`                 // the last event's id: the live stream resumes there
}

// readOperation collects one operation's events from the journal.
func (s *Server) readOperation(id string) (operationView, bool, error) {
	var v operationView
	if s.Journal == nil {
		return v, false, nil
	}
	events, after, err := s.Journal.Read("", 0)
	if err != nil {
		return v, false, err
	}
	v.After = after
	found := false
	idx := map[string]int{}
	for _, e := range events {
		if e.Op != id {
			continue
		}
		if !found {
			found = true
			v.opView = opView{ID: e.Op, Command: e.Command, App: e.App, Server: e.Server, Actor: e.Actor, Started: e.Time, Running: true}
		}
		stepOf := func(name string) *stepView {
			i, ok := idx[name]
			if !ok {
				v.Steps = append(v.Steps, stepView{Name: name, State: "running"})
				i = len(v.Steps) - 1
				idx[name] = i
			}
			return &v.Steps[i]
		}
		switch e.Kind {
		case journal.Started:
			stepOf(e.Step)
			v.Step = e.Step
		case journal.Finished:
			st := stepOf(e.Step)
			st.State, st.Error, st.Elapsed = "ok", e.Error, e.Elapsed
			if e.Error != "" {
				st.State = "failed"
			}
		case journal.Note:
			st := stepOf(e.Step)
			st.Notes = append(st.Notes, e.Message)
		case journal.End:
			v.Running, v.Ended, v.Step = false, true, ""
			v.Error, v.Hint, v.Outcome, v.Version, v.Message = e.Error, e.Hint, e.Outcome, e.Version, e.Message
			if v.Outcome == "" { // journalled by a CLI, which did not verify: its error says
				v.Outcome = outcomeDone
				if e.Error != "" {
					v.Outcome = outcomeFailed
				}
			}
		}
	}
	if v.Steps == nil {
		v.Steps = []stepView{}
	}
	return v, found, nil
}

// operation is one operation's page: steps live over the journal's event
// stream (JS), and at the end the verified result with the CLI's texts.
func (s *Server) operation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v, found, err := s.readOperation(id)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if !found {
		// an update agent's operation: its record on a server
		byServer, _ := s.serverRecords(r.Context())
		for server, recs := range byServer {
			for _, rec := range recs {
				if rec.ID == id {
					v = recordOperation(server, rec)
					found = true
				}
			}
		}
	}
	if !found {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("no operation %q in the journal (it keeps the newest operations only) or the servers' update records", id))
		return
	}
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, v)
		return
	}
	s.renderTitled(w, r, http.StatusOK, "operation", v.Command+" "+v.App+" · "+v.Started.Local().Format(time.TimeOnly), true, v)
}

// recordOperation is an update operation record as an operation's page: its
// state is the outcome (the pipeline verified it), its step the one it
// stopped at.
func recordOperation(server string, rec update.Record) operationView {
	o := recordOp(rec)
	o.Server = server
	v := operationView{opView: o, Steps: []stepView{}, Ended: rec.State.Final(), Version: rec.To}
	if rec.Step != "" {
		st := stepView{Name: rec.Step, State: "running"}
		if v.Ended {
			st.State = "ok"
			if rec.State != update.Succeeded {
				st.State, st.Error = "failed", rec.Error
			}
		}
		v.Steps = append(v.Steps, st)
	}
	switch rec.State {
	case update.Succeeded:
		v.Outcome = outcomeConverged
	case update.RolledBack:
		v.Outcome, v.Version = outcomeRolledBack, rec.From
	case update.Failed, update.Abandoned:
		v.Outcome, v.Version = outcomeFailed, ""
	}
	return v
}
