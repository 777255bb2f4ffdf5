package command

import (
	"bufio"
	"fmt"
	"strings"
)

// Ask returns an answer typed by the operator, or an error naming the flag to
// pass when prompting is not possible (--no-input, or not a terminal).
func (f *Factory) Ask(question, flag string) (string, error) {
	if f.NoInput || !f.IO.Interactive() {
		return "", &UsageError{Err: fmt.Errorf("%w: pass %s", ErrNeedsInput, flag)}
	}
	fmt.Fprintf(f.IO.Err, "%s: ", question)
	line, err := bufio.NewReader(f.IO.In).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read answer: %w", err)
	}
	answer := strings.TrimSpace(line)
	if answer == "" {
		return "", &UsageError{Err: fmt.Errorf("%w: no answer given for %s", ErrNeedsInput, flag)}
	}
	return answer, nil
}

// Confirm asks a yes/no question; without a terminal it fails naming the flag
// that skips the question.
func (f *Factory) Confirm(question, flag string) (bool, error) {
	if f.NoInput || !f.IO.Interactive() {
		return false, &UsageError{Err: fmt.Errorf("%w: %s; pass %s to go ahead without asking", ErrNeedsInput, question, flag)}
	}
	fmt.Fprintf(f.IO.Err, "%s [y/N]: ", question)
	line, _ := bufio.NewReader(f.IO.In).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}
