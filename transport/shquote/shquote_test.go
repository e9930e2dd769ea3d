package shquote

import (
	"bytes"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// hostile are words that would run code or split if they reached sh bare.
var hostile = []string{
	"", "plain", "with space", "it's", `"dq"`, "$(touch pwned)", "`touch pwned`",
	"a;touch pwned", "line\nbreak", "tab\there", "a=b", "~root", "*", "-rf",
	`back\slash`, "ünïcödé", "$HOME", "a|b&c>d<e", "\xff\xfe",
}

// TestQuoteThroughSh checks the real shell reads each quoted word back
// unchanged and runs nothing.
func TestQuoteThroughSh(t *testing.T) {
	dir := t.TempDir()
	for _, w := range hostile {
		t.Run(w, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", "printf '%s\\0' "+Quote(w))
			cmd.Dir = dir
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("sh: %v", err)
			}
			if got := string(bytes.TrimSuffix(out, []byte{0})); got != w {
				t.Fatalf("sh read back %q, want %q", got, w)
			}
		})
	}
	if _, err := exec.Command("test", "-e", dir+"/pwned").Output(); err == nil {
		t.Fatal("a quoted word ran a command")
	}
}

func TestJoinRunsExactArgv(t *testing.T) {
	out, err := exec.Command("sh", "-c", Join(append([]string{"printf", "%s\\0"}, hostile...))).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !reflect.DeepEqual(got, hostile) {
		t.Fatalf("argv %q, want %q", got, hostile)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "  echo   hi  ", want: []string{"echo", "hi"}},
		{in: `echo 'a b' "c d"`, want: []string{"echo", "a b", "c d"}},
		{in: `echo a\ b`, want: []string{"echo", "a b"}},
		{in: `echo "a\"b" "\$x" "\n"`, want: []string{"echo", `a"b`, "$x", `\n`}},
		{in: `echo 'it'\''s'`, want: []string{"echo", "it's"}},
		{in: `a'b'"c"d`, want: []string{"abcd"}},
		{in: "echo ''", want: []string{"echo", ""}},
		{in: "a \\\nb", want: []string{"a", "b"}},
		{in: "ls; rm -rf /", want: []string{"ls;", "rm", "-rf", "/"}},
		{in: "echo $(id)", want: []string{"echo", "$(id)"}},
		{in: "echo 'open", wantErr: true},
		{in: `echo "open`, wantErr: true},
		{in: `echo \`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Split(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Split(%q) = %q, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Split(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzSplit: Split never panics, and quoting its words gives them back.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"echo hi", `a 'b c' "d\"e" f\ g`, "x\\\ny", "'", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := Split(s)
		if err != nil {
			return
		}
		again, err := Split(Join(words))
		if err != nil {
			t.Fatalf("Split(Join(%q)): %v", words, err)
		}
		if len(words) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(again, words) {
			t.Fatalf("Split(Join(%q)) = %q", words, again)
		}
	})
}
