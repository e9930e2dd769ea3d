package main

import (
	"path/filepath"
	"strings"
	"testing"

	"kplay/engine"
)

// TestCompatGolden runs small playbooks whose output must have
// ansible-playbook's shape (each was run under ansible-core too; the
// playbook's comment says where kplay differs on purpose) and compares the
// text with golden files.
func TestCompatGolden(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	tests := []struct {
		name string
		book string
		args []string
	}{
		{"compat_names.txt", "names.yml", []string{"-e", "ev=extra"}},
		{"compat_names_check.txt", "names.yml", []string{"-e", "ev=extra", "--check"}},
		{"compat_unreachable_loop.txt", "unreachable_loop.yml", nil},
		{"compat_loop_diff.txt", "loop_diff.yml", []string{"--diff"}},
		{"compat_flush.txt", "flush.yml", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			args := append([]string{filepath.Join("testdata", "compat", tc.book), "-i", "testdata/compat/hosts.ini",
				"-f", "1", "-e", "root=" + root}, tc.args...)
			_, out, stderr := kplay(t, args...)
			if strings.TrimSpace(stderr) != "" {
				t.Errorf("stderr: %s", stderr)
			}
			golden(t, tc.name, normalize(out, root))
		})
	}
}

// TestLoopDiffsOnce: in the JSON stream each loop item carries its own diff
// and the host's summary of the loop carries none, failed or not.
func TestLoopDiffsOnce(t *testing.T) {
	root := t.TempDir()
	_, out, stderr := kplay(t, "testdata/compat/loop_diff.yml", "-i", "testdata/compat/hosts.ini",
		"-e", "root="+root, "--diff", "--output", "json")
	items := map[string]int{}
	for _, e := range events(t, out) {
		switch {
		case e.Type == engine.EvItemResult:
			items[e.Task] += len(e.Diffs)
		case e.Type == engine.EvHostResult && e.Loop && len(e.Diffs) > 0:
			t.Errorf("%s: the loop's summary repeats %d diffs", e.Task, len(e.Diffs))
		}
	}
	for _, task := range []string{"files", "files, one failing"} {
		if items[task] != 2 {
			t.Errorf("%s: %d item diffs, want 2\n%s", task, items[task], stderr)
		}
	}
}
