package app

import (
	"slices"
	"strings"
	"testing"
)

func TestFunctions(t *testing.T) {
	script := []byte("#!/bin/bash\nexport A_VERSION=v1\n\nhello() {\n  echo hi\n}\nfunction migrate {\n  :\n}\nfunction reset_db() {\n  :\n}\n  indented () { :; }\n")
	got := Functions(script)
	want := []string{"hello", "migrate", "reset_db", "indented"}
	if !slices.Equal(got, want) {
		t.Fatalf("Functions() = %v, want %v", got, want)
	}
}

func TestCmdScript(t *testing.T) {
	script := []byte("hello() {\n  echo \"hi $1\"\n}\n")
	got, err := CmdScript(script, "hello")
	if err != nil || !strings.HasSuffix(got, "\nhello \"$@\"\n") || !strings.HasPrefix(got, "hello() {") {
		t.Fatalf("CmdScript() = %q, %v", got, err)
	}
	if _, err := CmdScript(script, "nope"); err == nil || !strings.Contains(err.Error(), `no function "nope"`) {
		t.Fatalf("unknown function: err = %v", err)
	}
}
