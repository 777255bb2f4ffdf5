package recipe

import "testing"

func TestSplitImage(t *testing.T) {
	tests := []struct{ name, ref, image, tag string }{
		{"tagged", "nginx:1.25", "nginx", "1.25"},
		{"untagged", "mariadb", "mariadb", ""},
		{"registry with port", "127.0.0.1:5000/app:2.0-alpine", "127.0.0.1:5000/app", "2.0-alpine"},
		{"registry with port, untagged", "127.0.0.1:5000/app", "127.0.0.1:5000/app", ""},
		{"digest dropped", "nginx:1.25@sha256:abc", "nginx", "1.25"},
		{"variable kept", "${IMAGE}", "${IMAGE}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			image, tag := SplitImage(tt.ref)
			if image != tt.image || tag != tt.tag {
				t.Fatalf("SplitImage(%q) = %q, %q; want %q, %q", tt.ref, image, tag, tt.image, tt.tag)
			}
		})
	}
}
