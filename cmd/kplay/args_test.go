package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseExtraVars(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vars.yml")
	if err := os.WriteFile(file, []byte("a: 1\nlist: [x, y]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []string
		want map[string]any
		err  bool
	}{
		{"pairs", []string{"a=1 b=two"}, map[string]any{"a": "1", "b": "two"}, false},
		{"quoted", []string{`msg='hello world' x="y z"`}, map[string]any{"msg": "hello world", "x": "y z"}, false},
		{"json", []string{`{"n": 3, "f": 1.5, "l": [1]}`}, map[string]any{"n": 3, "f": 1.5, "l": []any{1}}, false},
		{"file", []string{"@" + file}, map[string]any{"a": 1, "list": []any{"x", "y"}}, false},
		{"later wins", []string{"a=1", "a=2"}, map[string]any{"a": "2"}, false},
		{"no value", []string{"novalue"}, nil, true},
		{"missing file", []string{"@" + filepath.Join(dir, "nope")}, nil, true},
		{"bad json", []string{"{nope"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseExtraVars(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("want an error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"site.yml", "-i", "a", "--inventory", "b", "--check", "-vvv"}, "books=[site.yml] inv=[a b] check=true v=3 tags=[] forks=5"},
		{[]string{"-t", "a,b", "--tags", "c", "x.yml", "y.yml", "-f", "2", "-v", "-v"}, "books=[x.yml y.yml] inv=[] check=false v=2 tags=[a b c] forks=2"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o, err := parseArgs(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("books=%v inv=%v check=%v v=%d tags=%v forks=%d", o.playbooks, []string(o.inventories), o.check, o.verbosity, o.tags, o.forks)
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDoc(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{nil, 0, "copy "},
		{[]string{"copy"}, 0, "dest (string; required)"},
		{[]string{"ansible.builtin.shell"}, 0, "Check mode:"},
		{[]string{"cpy"}, exitBadOptions, `did you mean "copy"`},
		// The summaries form one column, whatever the names' lengths.
		{nil, 0, "  copy             Copy a file"},
		{nil, 0, "  systemd_service  The systemd module"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runDoc(tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.contains) {
				t.Fatalf("exit %d, output:\n%s%s\nwant exit %d and %q", code, out.String(), errb.String(), tc.code, tc.contains)
			}
		})
	}
}

// FuzzExtraVars: -e never panics, whatever the user types.
func FuzzExtraVars(f *testing.F) {
	f.Add("a=1 b='x y'")
	f.Add(`{"a": [1, {"b": 2.5}]}`)
	f.Add(`x="unterminated`)
	f.Fuzz(func(t *testing.T, s string) {
		if strings.HasPrefix(strings.TrimSpace(s), "@") {
			return // names a file
		}
		m, err := parseExtraVars([]string{s})
		if err == nil && m == nil {
			t.Fatal("nil map without an error")
		}
	})
}
