package swarm

import "testing"

func TestHasLabelMatchesAsDockersLabelFilter(t *testing.T) {
	labels := map[string]string{"a": "1", "empty": ""}
	for filter, want := range map[string]bool{
		"a": true, "a=1": true, "a=2": false, "a=": false,
		"empty": true, "empty=": true, "b": false, "b=": false,
	} {
		if got := HasLabel(labels, filter); got != want {
			t.Errorf("HasLabel(%v, %q) = %v, want %v", labels, filter, got, want)
		}
	}
}
