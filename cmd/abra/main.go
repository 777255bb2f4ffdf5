// Command abra is the Co-op Cloud command-line tool.
package main

import (
	"os"

	"coopcloud.tech/abra/internal/cli"
)

func main() {
	os.Exit(cli.Main(cli.Args(os.Args), os.Stdin, os.Stdout, os.Stderr))
}
