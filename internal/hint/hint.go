// Package hint attaches remedies to errors: what the operator can do next.
// The CLI prints the hint under the error message.
package hint

import "errors"

type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }
func (h *hinted) Hint() string  { return h.hint }

// With returns err carrying the remedy text; nil stays nil.
func With(err error, remedy string) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: remedy}
}

// Of returns the outermost remedy attached to err or to an error it wraps, if any.
func Of(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}
