package cli

import (
	"path/filepath"
	"strings"
)

// CIName is the name the CI image's entry point calls abra by
// (/usr/bin/abra-ci, a link to abra): run so, abra is "abra ci".
const CIName = "abra-ci"

// Args is the command line abra runs for its process arguments (os.Args,
// program name first): those after the program's name, behind "ci" when the
// program was called as abra-ci.
func Args(osArgs []string) []string {
	if len(osArgs) == 0 {
		return nil
	}
	if strings.TrimSuffix(filepath.Base(osArgs[0]), ".exe") == CIName {
		return append([]string{"ci"}, osArgs[1:]...)
	}
	return osArgs[1:]
}
