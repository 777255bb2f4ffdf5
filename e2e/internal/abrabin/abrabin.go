// Package abrabin builds the real abra binary once for a test package's
// TestMain, so that end-to-end tests drive what operators run.
package abrabin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Main builds ./cmd/abra into a temporary directory, sets *bin to its path,
// runs the tests and returns their exit code for os.Exit. A build failure
// is reported on stderr and fails the run.
func Main(run func() int, bin *string) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot := filepath.Join(filepath.Dir(file), "..", "..", "..")
	tmp, err := os.MkdirTemp("", "abra-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	*bin = filepath.Join(tmp, "abra")
	build := exec.Command(goBin, "build", "-o", *bin, "./cmd/abra")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build abra: %v\n%s", err, out)
		return 1
	}
	return run()
}
