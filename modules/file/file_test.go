package file

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"kplay/modules/internal/modtest"
)

func owner(t *testing.T, p string) uint32 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Uid
}

const nobodyUID = 65534

func TestFile(t *testing.T) {
	j := filepath.Join
	cases := []modtest.Case{
		{
			Name: "directory with parents and mode",
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "a", "b"), "state": "directory", "mode": "0750"}
			},
			Env:         modtest.Env{Diff: true},
			WantChanged: true,
			VerifyCheck: func(t *testing.T, r string, o modtest.Outcome) {
				if len(o.Diffs) != 1 || o.Diffs[0].Before != "state: absent\n" || !strings.Contains(o.Diffs[0].After, "state: directory\n") || !strings.Contains(o.Diffs[0].After, "mode: 0750") {
					t.Errorf("diffs %+v", o.Diffs)
				}
			},
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if m := modtest.Mode(t, j(r, "a", "b")); m != 0o750 {
					t.Errorf("mode %o", m)
				}
			},
		},
		{
			Name:  "directory mode fixed",
			Setup: func(t *testing.T, r string) { os.Mkdir(j(r, "d"), 0o700) },
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "d"), "state": "directory", "mode": 0o755}
			},
			WantChanged: true,
			VerifyCheck: func(t *testing.T, r string, o modtest.Outcome) {
				if !strings.Contains(o.Msg, "mode 0700 -> 0755") {
					t.Errorf("msg %q", o.Msg)
				}
			},
		},
		{
			Name:  "directory already right",
			Setup: func(t *testing.T, r string) { os.Mkdir(j(r, "d"), 0o755); os.Chmod(j(r, "d"), 0o755) },
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "d"), "state": "directory", "mode": "0755"}
			},
		},
		{
			Name:       "directory over a file",
			Setup:      func(t *testing.T, r string) { modtest.WriteFile(t, j(r, "f"), "x", 0o644) },
			Args:       func(r string) map[string]any { return map[string]any{"path": j(r, "f"), "state": "directory"} },
			WantFailed: true,
		},
		{
			Name: "absent removes a tree",
			Setup: func(t *testing.T, r string) {
				modtest.WriteFile(t, j(r, "t", "x", "y"), "x", 0o644)
			},
			Args:        func(r string) map[string]any { return map[string]any{"path": j(r, "t"), "state": "absent"} },
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if _, err := os.Lstat(j(r, "t")); !os.IsNotExist(err) {
					t.Errorf("still there: %v", err)
				}
			},
		},
		{
			Name: "absent on missing is ok",
			Args: func(r string) map[string]any { return map[string]any{"path": j(r, "nothing"), "state": "absent"} },
		},
		{
			Name:  "file: attributes of an existing file",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, j(r, "f"), "keep", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "f"), "state": "file", "mode": "0600", "owner": "nobody"}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if modtest.Mode(t, j(r, "f")) != 0o600 || owner(t, j(r, "f")) != nobodyUID || modtest.Read(t, j(r, "f")) != "keep" {
					t.Error("attributes not set or content touched")
				}
			},
		},
		{
			Name:       "file: missing fails",
			Args:       func(r string) map[string]any { return map[string]any{"path": j(r, "nope"), "state": "file"} },
			WantFailed: true,
		},
		{
			Name:  "setuid mode",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, j(r, "bin"), "x", 0o755) },
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "bin"), "mode": "4755", "owner": "root"}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				fi, _ := os.Stat(j(r, "bin"))
				if fi.Mode()&os.ModeSetuid == 0 {
					t.Errorf("mode %v, want setuid", fi.Mode())
				}
			},
		},
		{
			Name: "touch creates, then updates times",
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "t"), "state": "touch", "mode": "0640"}
			},
			WantChanged:   true,
			NotIdempotent: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if modtest.Mode(t, j(r, "t")) != 0o640 {
					t.Error("mode")
				}
			},
		},
		{
			Name: "touch preserving times is idempotent",
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "t"), "state": "touch", "modification_time": "preserve", "access_time": "preserve"}
			},
			WantChanged: true,
		},
		{
			Name:  "link",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, j(r, "target"), "x", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "l"), "state": "link", "src": "target"}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if got, _ := os.Readlink(j(r, "l")); got != "target" {
					t.Errorf("link -> %q", got)
				}
			},
		},
		{
			Name: "relink",
			Setup: func(t *testing.T, r string) {
				os.Mkdir(j(r, "old"), 0o755)
				os.Mkdir(j(r, "new"), 0o755)
				os.Symlink(j(r, "old"), j(r, "l"))
			},
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "l"), "state": "link", "src": j(r, "new")}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if got, _ := os.Readlink(j(r, "l")); got != j(r, "new") {
					t.Errorf("link -> %q", got)
				}
				if _, err := os.Lstat(j(r, "old", "new")); err == nil {
					t.Error("ln created a link inside the old target")
				}
			},
		},
		{
			Name:  "link owner",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, j(r, "target"), "x", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "l"), "state": "link", "src": "target", "owner": "nobody"}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if owner(t, j(r, "l")) != nobodyUID || owner(t, j(r, "target")) == nobodyUID {
					t.Error("owner must be set on the link only")
				}
			},
		},
		{
			Name: "link over a file needs force",
			Setup: func(t *testing.T, r string) {
				modtest.WriteFile(t, j(r, "f"), "x", 0o644)
				modtest.WriteFile(t, j(r, "target"), "x", 0o644)
			},
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "f"), "state": "link", "src": "target"}
			},
			WantFailed: true,
		},
		{
			Name:  "link over a file with force",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, j(r, "f"), "x", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "f"), "state": "link", "src": "/nonexistent", "force": true}
			},
			WantChanged: true,
		},
		{
			Name: "link to a missing src needs force",
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "l"), "state": "link", "src": "missing"}
			},
			WantFailed: true,
		},
		{
			Name: "recurse mode and owner",
			Setup: func(t *testing.T, r string) {
				modtest.WriteFile(t, j(r, "tree", "a", "f1"), "1", 0o644)
				modtest.WriteFile(t, j(r, "tree", "f2"), "2", 0o600)
				os.Chmod(j(r, "tree"), 0o755)
				os.Chmod(j(r, "tree", "a"), 0o755)
			},
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "tree"), "state": "directory", "recurse": true, "mode": "0755", "owner": "nobody"}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				for _, p := range []string{"tree", "tree/a", "tree/a/f1", "tree/f2"} {
					if modtest.Mode(t, j(r, p)) != 0o755 || owner(t, j(r, p)) != nobodyUID {
						t.Errorf("%s not set", p)
					}
				}
			},
		},
		{
			Name: "recurse notices one file deep down",
			Setup: func(t *testing.T, r string) {
				modtest.WriteFile(t, j(r, "tree", "a", "b", "f"), "1", 0o600)
				for _, p := range []string{"tree", "tree/a", "tree/a/b"} {
					os.Chmod(j(r, p), 0o700)
				}
			},
			Args: func(r string) map[string]any {
				return map[string]any{"path": j(r, "tree"), "recurse": true, "mode": "0700"}
			},
			WantChanged: true,
		},
		{
			Name: "default state keeps a directory",
			Setup: func(t *testing.T, r string) {
				os.Mkdir(j(r, "d"), 0o700)
			},
			Args:        func(r string) map[string]any { return map[string]any{"path": j(r, "d"), "mode": "0711"} },
			WantChanged: true,
		},
		{
			Name:  "numeric owner of a root file",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, j(r, "f"), "x", 0o644) },
			Args:  func(r string) map[string]any { return map[string]any{"path": j(r, "f"), "owner": "0", "group": 0} },
		},
		{Name: "absent refuses /", Args: func(r string) map[string]any { return map[string]any{"path": "//", "state": "absent"} }, WantFailed: true},
		{Name: "link without src", Args: func(r string) map[string]any { return map[string]any{"path": j(r, "l"), "state": "link"} }, WantErr: "needs src"},
		{Name: "recurse on a file", Args: func(r string) map[string]any {
			return map[string]any{"path": j(r, "l"), "state": "file", "recurse": true}
		}, WantErr: "recurse needs state directory"},
		{Name: "bad state", Args: func(r string) map[string]any { return map[string]any{"path": j(r, "l"), "state": "hard"} }, WantErr: "not one of"},
		{Name: "dest alias", Args: func(r string) map[string]any { return map[string]any{"dest": j(r, "x"), "state": "directory"} }, WantChanged: true},
	}
	for _, n := range modtest.Hostile {
		cases = append(cases,
			modtest.Case{
				Name: "hostile directory " + n,
				Args: func(r string) map[string]any {
					return map[string]any{"path": j(r, n, n), "state": "directory", "mode": "0700", "group": "nogroup"}
				},
				WantChanged: true,
				Verify: func(t *testing.T, r string, o modtest.Outcome) {
					if modtest.Mode(t, j(r, n, n)) != 0o700 {
						t.Error("mode")
					}
				},
			},
			modtest.Case{
				Name:  "hostile link " + n,
				Setup: func(t *testing.T, r string) { modtest.WriteFile(t, j(r, n), "x", 0o644) },
				Args: func(r string) map[string]any {
					return map[string]any{"path": j(r, n+".link"), "state": "link", "src": n}
				},
				WantChanged: true,
				Verify: func(t *testing.T, r string, o modtest.Outcome) {
					if got, _ := os.Readlink(j(r, n+".link")); got != n {
						t.Errorf("link -> %q", got)
					}
				},
			},
			modtest.Case{
				Name:        "hostile absent " + n,
				Setup:       func(t *testing.T, r string) { modtest.WriteFile(t, j(r, n, "f"), "x", 0o644) },
				Args:        func(r string) map[string]any { return map[string]any{"path": j(r, n), "state": "absent"} },
				WantChanged: true,
			},
			modtest.Case{
				Name:        "hostile recurse " + n,
				Setup:       func(t *testing.T, r string) { modtest.WriteFile(t, j(r, n, n), "x", 0o644) },
				Args:        func(r string) map[string]any { return map[string]any{"path": j(r, n), "recurse": true, "mode": "0700"} },
				WantChanged: true,
			},
		)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) { tc.Test(t, File{}) })
	}
}
