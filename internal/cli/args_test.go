package cli

import (
	"slices"
	"testing"
)

func TestArgsAsAbraCI(t *testing.T) {
	for _, tt := range []struct{ in, want []string }{
		{[]string{"/usr/bin/abra", "app", "ls"}, []string{"app", "ls"}},
		{[]string{"/usr/bin/abra-ci"}, []string{"ci"}},
		{[]string{"abra-ci", "deploy", "--server", "h"}, []string{"ci", "deploy", "--server", "h"}},
		{[]string{"abra"}, []string{}},
		{nil, nil},
	} {
		if got := Args(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Args(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
