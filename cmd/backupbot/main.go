// Command backupbot is the server-side backup service.
package main

import (
	"fmt"
	"os"
)

var version = "dev"

func main() {
	fmt.Fprintln(os.Stderr, "backupbot", version)
	os.Exit(1)
}
