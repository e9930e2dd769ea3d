package fileop

import (
	"io/fs"
	"strings"
	"testing"
)

func TestIsSecret(t *testing.T) {
	tests := []struct {
		path string
		mode fs.FileMode
		want bool
	}{
		{"/etc/kubernetes/pki/kcm-key.pem", 0o644, true},
		{"/etc/kubernetes/pki/kcm.pem", 0o644, false},
		{"/etc/ssl/private/server.key", 0, true},
		{"/root/.ssh/id_ed25519", 0, true},
		{"/root/.ssh/id_ed25519.pub", 0, false},
		{"/etc/kcm/token.csv", 0o644, true},
		{"/etc/app.conf", 0o600, true},
		{"/etc/app.conf", 0o400, true},
		{"/etc/app.conf", 0o640, false},
		{"/etc/app.conf", 0, false},
	}
	for _, tc := range tests {
		if got := IsSecret(tc.path, tc.mode); got != tc.want {
			t.Errorf("IsSecret(%q, %o) = %v, want %v", tc.path, tc.mode, got, tc.want)
		}
	}
}

func TestDiffText(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		has  string
	}{
		{"text", []byte("a\nb\n"), "a\nb\n"},
		{"binary", []byte{0, 1, 2}, "(binary or large: 3 bytes"},
		{"invalid utf8", []byte{0xff, 'a'}, "(binary or large: 2 bytes"},
		{"large", []byte(strings.Repeat("x", maxDiff+1)), "(binary or large: 262145 bytes"},
	}
	for _, tc := range tests {
		if got := diffText(tc.in); !strings.Contains(got, tc.has) {
			t.Errorf("%s: %q, want %q in it", tc.name, got, tc.has)
		}
	}
}
