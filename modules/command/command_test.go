package command

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"kplay/modules/internal/modtest"
)

func TestCommand(t *testing.T) {
	cases := []modtest.Case{
		{
			Name: "no shell: operators are arguments",
			Args: func(r string) map[string]any {
				return map[string]any{"cmd": `printf '%s|' a 'b c' "d;e" $(touch pwned) ; touch pwned`}
			},
			WantChanged: true, CheckSkips: true, NotIdempotent: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if o.Data["stdout"] != "a|b c|d;e|$(touch|pwned)|;|touch|pwned|" {
					t.Errorf("stdout %q", o.Data["stdout"])
				}
				want := []any{"printf", "%s|", "a", "b c", "d;e", "$(touch", "pwned)", ";", "touch", "pwned"}
				if !reflect.DeepEqual(o.Data["cmd"], want) {
					t.Errorf("cmd %q", o.Data["cmd"])
				}
			},
		},
		{
			Name: "argv list",
			Args: func(r string) map[string]any {
				return map[string]any{"argv": []any{"printf", "%s/", "x y", "$HOME", 3}}
			},
			WantChanged: true, CheckSkips: true, NotIdempotent: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if o.Data["stdout"] != "x y/$HOME/3/" {
					t.Errorf("stdout %q", o.Data["stdout"])
				}
			},
		},
		{
			Name:        "program named like a keyword or assignment",
			Args:        func(r string) map[string]any { return map[string]any{"argv": []any{"A=b"}} },
			WantChanged: true, WantFailed: true, CheckSkips: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if o.Data["rc"] != 127 {
					t.Errorf("rc %v, want 127 (no program A=b)", o.Data["rc"])
				}
			},
		},
		{
			Name:        "rc not 0 fails",
			Args:        func(r string) map[string]any { return map[string]any{"cmd": "false"} },
			WantChanged: true, WantFailed: true, CheckSkips: true,
		},
		{
			Name:  "creates with chdir",
			Setup: func(t *testing.T, r string) { os.Mkdir(filepath.Join(r, "w d"), 0o755) },
			Args: func(r string) map[string]any {
				return map[string]any{"cmd": "touch 'the file'", "chdir": filepath.Join(r, "w d"), "creates": "the file"}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if _, err := os.Stat(filepath.Join(r, "w d", "the file")); err != nil {
					t.Error(err)
				}
			},
		},
		{
			Name: "stdin",
			Args: func(r string) map[string]any {
				return map[string]any{"cmd": "cat", "stdin": "in", "stdin_add_newline": false}
			},
			WantChanged: true, CheckSkips: true, NotIdempotent: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if o.Data["stdout"] != "in" {
					t.Errorf("stdout %q", o.Data["stdout"])
				}
			},
		},
		{Name: "cmd and argv", Args: func(r string) map[string]any { return map[string]any{"cmd": "true", "argv": []any{"true"}} }, WantErr: "mutually exclusive"},
		{Name: "neither", Args: func(r string) map[string]any { return map[string]any{"chdir": "/"} }, WantErr: "one of cmd or argv"},
		{Name: "open quote", Args: func(r string) map[string]any { return map[string]any{"cmd": "echo 'oops"} }, WantErr: "unterminated"},
		{Name: "empty", Args: func(r string) map[string]any { return map[string]any{"cmd": "  "} }, WantErr: "empty"},
		{Name: "argv not a list", Args: func(r string) map[string]any { return map[string]any{"argv": "true"} }, WantErr: "want a list"},
	}
	for _, n := range modtest.Hostile {
		cases = append(cases, modtest.Case{
			Name: "hostile word " + n,
			Args: func(r string) map[string]any {
				return map[string]any{"argv": []any{"touch", "--", n}, "chdir": r, "creates": filepath.Join(r, n)}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if _, err := os.Stat(filepath.Join(r, n)); err != nil {
					t.Errorf("argument not passed verbatim: %v", err)
				}
			},
		})
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) { tc.Test(t, Command{}) })
	}
}
