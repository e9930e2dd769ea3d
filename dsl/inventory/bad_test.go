package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestBadInput loads each file of testdata/bad/ alone and compares its
// diagnostics with the "ERROR: message" markers in it. A marker at the end
// of a line is about that line; a marker alone on a comment line is about
// the next line that is not a marker. Every diagnostic must be expected and
// every expectation met, each with a column.
func TestBadInput(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("want at least 10 bad-input files, have %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := expectedErrors(t, f)
			if len(want) == 0 {
				t.Fatalf("%s has no ERROR: markers", f)
			}
			_, ds := Load([]string{f})
			var got []string
			for _, d := range ds {
				if d.Pos.File != f {
					t.Errorf("diagnostic names file %q, want %q: %s", d.Pos.File, f, d)
				}
				if d.Pos.Col < 1 {
					t.Errorf("diagnostic has no column: %s", d)
				}
				got = append(got, fmt.Sprintf("%d: %s", d.Pos.Line, d.Msg))
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("diagnostics differ\n got:\n  %s\n want:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

func expectedErrors(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var want []string
	var pending []string
	for i, line := range lines {
		idx := strings.Index(line, "# ERROR: ")
		if idx < 0 {
			for _, m := range pending {
				want = append(want, fmt.Sprintf("%d: %s", i+1, m))
			}
			pending = nil
			continue
		}
		msg := strings.TrimSpace(line[idx+len("# ERROR: "):])
		if strings.TrimSpace(line[:idx]) == "" {
			pending = append(pending, msg)
			continue
		}
		want = append(want, fmt.Sprintf("%d: %s", i+1, msg))
		for _, m := range pending {
			want = append(want, fmt.Sprintf("%d: %s", i+1, m))
		}
		pending = nil
	}
	return want
}
