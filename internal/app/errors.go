package app

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
)

// ServiceError is one failure of a task of an app's service, as `abra app
// errors` lists them: what swarm recorded when the task failed, was rejected
// or exited with a non-zero code.
type ServiceError struct {
	Service  string `json:"service"`
	State    string `json:"state"`
	Error    string `json:"error"`
	ExitCode int    `json:"exit_code"`
	Since    string `json:"since"`
}

// Errors lists the recorded failures of the app's tasks, newest first per
// service (sorted by service). An app whose tasks never failed has none.
func Errors(ctx context.Context, c swarm.Cluster, a *App) ([]ServiceError, error) {
	names, err := serviceNames(ctx, c, a)
	if err != nil {
		return nil, err
	}
	tasks, err := c.Tasks(ctx, a.StackName())
	if err != nil {
		return nil, err
	}
	var out []ServiceError
	for _, t := range tasks {
		code := 0
		if t.Status.ContainerStatus != nil {
			code = t.Status.ContainerStatus.ExitCode
		}
		failed := t.Status.State == mobyswarm.TaskStateFailed || t.Status.State == mobyswarm.TaskStateRejected
		if !failed && code == 0 && t.Status.Err == "" {
			continue
		}
		out = append(out, ServiceError{Service: names[t.ServiceID], State: string(t.Status.State), Error: t.Status.Err,
			ExitCode: code, Since: t.Status.Timestamp.UTC().Format(time.RFC3339)})
	}
	slices.SortStableFunc(out, func(x, y ServiceError) int {
		return cmp.Or(strings.Compare(x.Service, y.Service), strings.Compare(y.Since, x.Since)) // newest first
	})
	return out, nil
}
