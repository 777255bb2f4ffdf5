package app

import (
	"errors"
	"slices"

	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/step"
)

// ErrRolledBack is wrapped, next to stack.ErrNotConverged, by the error of a
// deploy that did not converge when the previous version was put back and
// runs again.
var ErrRolledBack = errors.New("the previous version was put back and runs again")

// ErrRollbackFailed is wrapped, next to stack.ErrNotConverged, when putting
// the previous version back after a deploy that did not converge failed too.
// A first deploy that does not converge wraps neither: there was nothing to
// put back, and what was created stays for inspection.
var ErrRollbackFailed = errors.New("putting the previous version back failed too")

// stepsBeforeApply are the steps of Deploy that only read and check.
var stepsBeforeApply = []string{"check out recipe", "lint recipe", "load compose files", "check server", "lock app"}

// ChangedNothing reports whether a deploy's error says that nothing on the
// server was changed: it failed in a step before "apply stack", or applying
// refused before creating anything (a missing external network or secret).
func ChangedNothing(err error) bool {
	var failed *step.Failed
	if !errors.As(err, &failed) {
		return false
	}
	if slices.Contains(stepsBeforeApply, failed.Step) {
		return true
	}
	var network *stack.MissingNetworkError
	var secrets *stack.MissingSecretsError
	return failed.Step == "apply stack" && (errors.As(err, &network) || errors.As(err, &secrets))
}
