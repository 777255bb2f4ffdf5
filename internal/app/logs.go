package app

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/compose/convert"

	"coopcloud.tech/abra/internal/swarm"
)

// LogLine is one line of a service's log.
type LogLine struct {
	Service string    `json:"service"` // the recipe's name for it (app, db, …)
	Text    string    `json:"text"`
	Time    time.Time `json:"time,omitzero"` // when it was logged (with LogOptions.Timestamps)
}

// Logs streams the logs of the app's services (of service only, when named)
// line by line to fn, from one goroutine per service (fn is called under a
// mutex: never concurrently), until the logs end (with Follow: until ctx
// ends). Nothing is accumulated. An app that is not deployed is an error
// saying so.
func Logs(ctx context.Context, c swarm.Cluster, a *App, service string, o swarm.LogOptions, fn func(LogLine)) error {
	services := map[string]string{} // short name → ID
	if service != "" {
		id, err := ServiceID(ctx, c, a, service)
		if err != nil {
			return err
		}
		services[service] = id
	} else {
		all, err := c.Services(ctx, a.StackName())
		if err != nil {
			return err
		}
		if len(all) == 0 {
			_, err := ServiceID(ctx, c, a, "app") // not deployed: its error says so
			return err
		}
		ns := convert.NewNamespace(a.StackName())
		for _, s := range all {
			services[ns.Descope(s.Spec.Name)] = s.ID
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(services))
	for name, id := range services {
		rc, err := c.ServiceLogs(ctx, id, o)
		if err != nil {
			return fmt.Errorf("logs of %s: %w", name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer rc.Close()
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			for sc.Scan() {
				mu.Lock()
				l := LogLine{Service: name, Text: sc.Text()}
				if o.Timestamps {
					l.Time, l.Text = splitLogTime(l.Text)
				}
				fn(l)
				mu.Unlock()
			}
			if err := sc.Err(); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("logs of %s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// splitLogTime splits the time Docker writes before a line (LogOptions.
// Timestamps) from the line; a line without one is left whole.
func splitLogTime(line string) (time.Time, string) {
	ts, text, ok := strings.Cut(line, " ")
	if !ok {
		ts, text = line, ""
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, line
	}
	return t, text
}
