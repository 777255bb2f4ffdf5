package recipe

import (
	"maps"
	"strings"
	"testing"
)

func TestExports(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   map[string]string
	}{
		{"plain", "export NGINX_CONF_VERSION=v2\n", map[string]string{"NGINX_CONF_VERSION": "v2"}},
		{"quoted", "export A='x y'\nexport B=\"z\"\n", map[string]string{"A": "x y", "B": "z"}},
		{"comment after value", "export A=v1 # bump on change\n", map[string]string{"A": "v1"}},
		{"indented and later wins", "  export A=v1\nexport A=v3\n", map[string]string{"A": "v3"}},
		{"ignores functions and plain assignments", "B=1\nfoo() {\n  echo export\n}\n", map[string]string{}},
		{"empty value", "export A=\n", map[string]string{"A": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Exports([]byte(tt.script)); !maps.Equal(got, tt.want) {
				t.Fatalf("Exports() = %v, want %v", got, tt.want)
			}
		})
	}
}

// A line longer than bufio.Scanner's 64 KiB once hid every export after it.
func TestExportsAfterALongLine(t *testing.T) {
	script := "export A=1\nCERT='" + strings.Repeat("x", 100_000) + "'\nexport B=2\n"
	want := map[string]string{"A": "1", "B": "2"}
	if got := Exports([]byte(script)); !maps.Equal(got, want) {
		t.Fatalf("Exports() = %v, want %v", got, want)
	}
}
