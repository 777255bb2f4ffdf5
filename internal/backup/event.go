package backup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Event kinds of the JSON Lines stream the backup service writes.
const (
	EventStep     = "step"
	EventHook     = "hook"
	EventProgress = "progress"
	EventWarning  = "warning"
	EventError    = "error"
	EventResult   = "result"
)

// Event is one line of the backup service's output.
type Event struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"`
	Step    string    `json:"step,omitempty"`
	Service string    `json:"service,omitempty"`
	Message string    `json:"message,omitempty"`
	Data    any       `json:"data,omitempty"`
}

// Reporter receives the events of an operation. Implementations are safe for
// concurrent use.
type Reporter interface {
	Report(e Event)
}

// JSONLines writes each event as one JSON object per line.
func JSONLines(w io.Writer) Reporter { return &jsonLines{w: w} }

type jsonLines struct {
	mu sync.Mutex
	w  io.Writer
}

func (j *jsonLines) Report(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC().Truncate(time.Second)
	// Hooks are shell commands: keep their < > & readable.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(e) != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	_, _ = j.w.Write(b.Bytes())
}

// Human writes events as plain lines to log and the result's data as indented
// JSON to out.
func Human(log, out io.Writer) Reporter { return &human{log: log, out: out} }

type human struct {
	mu       sync.Mutex
	log, out io.Writer
}

func (h *human) Report(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.Event == EventResult {
		b, _ := json.MarshalIndent(e.Data, "", "  ")
		fmt.Fprintln(h.out, string(b))
		return
	}
	var parts []string
	if e.Event != EventProgress && e.Event != EventStep {
		parts = append(parts, e.Event+":")
	}
	if e.Step != "" {
		parts = append(parts, "["+e.Step+"]")
	}
	if e.Service != "" {
		parts = append(parts, e.Service+":")
	}
	parts = append(parts, e.Message)
	fmt.Fprintln(h.log, strings.Join(parts, " "))
}

// Discard drops events.
type Discard struct{}

// Report implements Reporter.
func (Discard) Report(Event) {}

// Notifier hits push URLs (uptime monitors such as Uptime Kuma or
// healthchecks.io) when a backup starts, succeeds and fails. An empty URL is skipped.
type Notifier struct {
	Start, Success, Fail string
	Method               string // GET (default) or POST with the message as a JSON body
	Client               *http.Client
}

// Notify hits the URL of the given kind ("start", "success", "fail").
// Failing to reach it is returned (callers report it as a warning).
func (n *Notifier) Notify(kind, message string) error {
	if n == nil {
		return nil
	}
	url := map[string]string{"start": n.Start, "success": n.Success, "fail": n.Fail}[kind]
	if url == "" {
		return nil
	}
	c := n.Client
	if c == nil {
		c = &http.Client{Timeout: 15 * time.Second}
	}
	var req *http.Request
	var err error
	if strings.EqualFold(n.Method, http.MethodPost) {
		body, _ := json.Marshal(map[string]string{"status": kind, "message": message})
		req, err = http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		req, err = http.NewRequest(http.MethodGet, url, nil)
	}
	if err != nil {
		return fmt.Errorf("push notification %s: %w", kind, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("push notification %s: %w", kind, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64*1024))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("push notification %s: %s answered %s", kind, url, resp.Status)
	}
	return nil
}
