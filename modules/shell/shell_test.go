package shell

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kplay/modules/internal/modtest"
)

func TestShell(t *testing.T) {
	cases := []modtest.Case{
		{
			Name:        "runs and registers",
			Args:        func(r string) map[string]any { return map[string]any{"cmd": "echo out; echo err >&2; echo two"} },
			WantChanged: true, CheckSkips: true, NotIdempotent: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				d := o.Data
				if d["rc"] != 0 || d["stdout"] != "out\ntwo" || d["stderr"] != "err" {
					t.Errorf("data %v", d)
				}
				if l, _ := d["stdout_lines"].([]any); len(l) != 2 || l[1] != "two" {
					t.Errorf("stdout_lines %v", d["stdout_lines"])
				}
				for _, k := range []string{"start", "end", "delta", "cmd", "stderr_lines"} {
					if _, ok := d[k]; !ok {
						t.Errorf("no %s registered", k)
					}
				}
				if d["cmd"] != "echo out; echo err >&2; echo two" {
					t.Errorf("cmd %v", d["cmd"])
				}
			},
		},
		{
			Name:        "rc not 0 fails with rc and stderr",
			Args:        func(r string) map[string]any { return map[string]any{"cmd": "echo broken >&2; exit 4"} },
			WantChanged: true, WantFailed: true, CheckSkips: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if !strings.Contains(o.Msg, "rc 4") || !strings.Contains(o.Msg, "broken") || o.Data["rc"] != 4 {
					t.Errorf("msg %q data %v", o.Msg, o.Data)
				}
			},
		},
		{
			Name: "creates makes it idempotent",
			Setup: func(t *testing.T, r string) {
				os.Mkdir(filepath.Join(r, "w"), 0o755)
			},
			Args: func(r string) map[string]any {
				return map[string]any{"cmd": "echo made > marker", "chdir": filepath.Join(r, "w"), "creates": "marker"}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if modtest.Read(t, filepath.Join(r, "w", "marker")) != "made\n" {
					t.Error("did not run in chdir")
				}
			},
		},
		{
			Name:  "creates exists: ok, not run",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, filepath.Join(r, "there"), "", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"cmd": "touch " + filepath.Join(r, "ran"), "creates": filepath.Join(r, "there")}
			},
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if _, err := os.Stat(filepath.Join(r, "ran")); err == nil {
					t.Error("ran although creates exists")
				}
				if o.Data["rc"] != 0 || !strings.Contains(o.Data["stdout"].(string), "exists") {
					t.Errorf("data %v", o.Data)
				}
			},
		},
		{
			Name:  "creates glob",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, filepath.Join(r, "a b", "x-1.done"), "", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"cmd": "touch " + filepath.Join(r, "ran"), "creates": filepath.Join(r, "a b", "x-*.done")}
			},
		},
		{
			Name: "removes missing: ok, not run",
			Args: func(r string) map[string]any {
				return map[string]any{"cmd": "touch " + filepath.Join(r, "ran"), "removes": filepath.Join(r, "gone")}
			},
		},
		{
			Name:  "removes present: runs",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, filepath.Join(r, "old"), "", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"cmd": "rm " + filepath.Join(r, "old"), "removes": filepath.Join(r, "old")}
			},
			WantChanged: true,
		},
		{
			Name: "stdin and executable",
			Args: func(r string) map[string]any {
				return map[string]any{"cmd": "read x; echo \"got $x\"", "stdin": "fed", "executable": "/bin/bash"}
			},
			WantChanged: true, CheckSkips: true, NotIdempotent: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if o.Data["stdout"] != "got fed" {
					t.Errorf("stdout %q", o.Data["stdout"])
				}
			},
		},
		{
			Name:       "chdir missing fails",
			Args:       func(r string) map[string]any { return map[string]any{"cmd": "true", "chdir": filepath.Join(r, "nope")} },
			WantFailed: true,
		},
		{
			Name:    "unknown argument",
			Args:    func(r string) map[string]any { return map[string]any{"cmd": "true", "chdri": "/"} },
			WantErr: `did you mean "chdir"`,
		},
	}
	// Hostile names in chdir, creates and removes are data: nothing in them
	// runs, and they name the right paths.
	for _, n := range modtest.Hostile {
		cases = append(cases,
			modtest.Case{
				Name:  "hostile chdir and creates " + n,
				Setup: func(t *testing.T, r string) { os.Mkdir(filepath.Join(r, n), 0o755) },
				Args: func(r string) map[string]any {
					return map[string]any{"cmd": "echo ok > made", "chdir": filepath.Join(r, n), "creates": filepath.Join(r, n, "made")}
				},
				WantChanged: true,
				Verify: func(t *testing.T, r string, o modtest.Outcome) {
					if modtest.Read(t, filepath.Join(r, n, "made")) != "ok\n" {
						t.Error("not run in the hostile chdir")
					}
				},
			},
			modtest.Case{
				Name: "hostile removes " + n,
				Args: func(r string) map[string]any {
					return map[string]any{"cmd": "touch ran", "chdir": r, "removes": filepath.Join(r, n+"*")}
				},
			},
		)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) { tc.Test(t, Shell{}) })
	}
}

func TestInfo(t *testing.T) {
	info := Shell{}.Info()
	if info.FreeForm != "cmd" || info.Summary == "" || info.Doc == "" || info.CheckMode == "" || info.Returns == "" {
		t.Errorf("incomplete Info: %+v", info)
	}
	for _, a := range info.Args {
		if a.Doc == "" {
			t.Errorf("argument %s has no Doc", a.Name)
		}
	}
}
