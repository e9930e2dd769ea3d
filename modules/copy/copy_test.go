package copy

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"kplay/modules"
	"kplay/modules/internal/modtest"
)

func TestRegistered(t *testing.T) {
	for _, name := range []string{"copy", "ansible.builtin.copy"} {
		if _, ok := modules.Lookup(name); !ok {
			t.Errorf("%s not registered", name)
		}
	}
}

func TestCopy(t *testing.T) {
	h := func(root string, p ...string) string { return filepath.Join(append([]string{root, "host"}, p...)...) }
	cases := []modtest.Case{
		{
			Name:        "content creates a file",
			Args:        func(r string) map[string]any { return map[string]any{"content": "hello\n", "dest": h(r, "a.txt")} },
			Setup:       func(t *testing.T, r string) { os.MkdirAll(h(r), 0o755) },
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if got := modtest.Read(t, h(r, "a.txt")); got != "hello\n" {
					t.Errorf("content %q", got)
				}
				if m := modtest.Mode(t, h(r, "a.txt")); m != 0o644 {
					t.Errorf("mode %o, want 644", m)
				}
				if o.Data["checksum"] != "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" {
					t.Errorf("checksum %v", o.Data["checksum"])
				}
			},
		},
		{
			Name:  "same content is ok",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "a.txt"), "same", 0o644) },
			Args:  func(r string) map[string]any { return map[string]any{"content": "same", "dest": h(r, "a.txt")} },
		},
		{
			Name:        "changed content shows a diff",
			Setup:       func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "a.conf"), "old\n", 0o640) },
			Args:        func(r string) map[string]any { return map[string]any{"content": "new\n", "dest": h(r, "a.conf")} },
			Env:         modtest.Env{Diff: true},
			WantChanged: true,
			VerifyCheck: func(t *testing.T, r string, o modtest.Outcome) {
				if len(o.Diffs) != 1 || o.Diffs[0].Before != "old\n" || o.Diffs[0].After != "new\n" || o.Diffs[0].Secret {
					t.Errorf("diffs %+v", o.Diffs)
				}
			},
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if modtest.Read(t, h(r, "a.conf")) != "new\n" {
					t.Error("content not replaced")
				}
				if m := modtest.Mode(t, h(r, "a.conf")); m != 0o640 {
					t.Errorf("existing mode not kept: %o", m)
				}
			},
		},
		{
			Name:        "no diff without --diff",
			Setup:       func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "a.conf"), "old\n", 0o644) },
			Args:        func(r string) map[string]any { return map[string]any{"content": "new\n", "dest": h(r, "a.conf")} },
			WantChanged: true,
			VerifyCheck: func(t *testing.T, r string, o modtest.Outcome) {
				if len(o.Diffs) != 0 {
					t.Errorf("diffs %+v", o.Diffs)
				}
			},
		},
		{
			Name:        "binary content diff is a summary",
			Setup:       func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "bin"), "\x00old", 0o755) },
			Args:        func(r string) map[string]any { return map[string]any{"content": "\x00new", "dest": h(r, "bin")} },
			Env:         modtest.Env{Diff: true},
			WantChanged: true,
			VerifyCheck: func(t *testing.T, r string, o modtest.Outcome) {
				if len(o.Diffs) != 1 || !strings.HasPrefix(o.Diffs[0].Before, "(binary or large: 4 bytes") || !strings.HasPrefix(o.Diffs[0].After, "(binary or large: 4 bytes") {
					t.Errorf("diffs %+v", o.Diffs)
				}
			},
		},
		{
			Name:  "mode only",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "m"), "x", 0o600) },
			Args: func(r string) map[string]any {
				return map[string]any{"content": "x", "dest": h(r, "m"), "mode": "0640"}
			},
			WantChanged: true,
			VerifyCheck: func(t *testing.T, r string, o modtest.Outcome) {
				if !strings.Contains(o.Msg, "mode 0600 -> 0640") || len(o.Diffs) != 0 {
					t.Errorf("msg %q diffs %+v", o.Msg, o.Diffs)
				}
			},
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if m := modtest.Mode(t, h(r, "m")); m != 0o640 {
					t.Errorf("mode %o", m)
				}
			},
		},
		{
			Name: "src from files/ first",
			Setup: func(t *testing.T, r string) {
				modtest.WriteFile(t, filepath.Join(r, "files", "app.conf"), "from files/", 0o644)
				modtest.WriteFile(t, filepath.Join(r, "app.conf"), "beside the playbook", 0o644)
				os.MkdirAll(h(r), 0o755)
			},
			Args:        func(r string) map[string]any { return map[string]any{"src": "app.conf", "dest": h(r, "app.conf")} },
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if got := modtest.Read(t, h(r, "app.conf")); got != "from files/" {
					t.Errorf("content %q", got)
				}
			},
		},
		{
			Name: "src beside the playbook, dest a directory",
			Setup: func(t *testing.T, r string) {
				modtest.WriteFile(t, filepath.Join(r, "b.conf"), "b", 0o644)
				os.MkdirAll(h(r, "etc"), 0o755)
			},
			Args:        func(r string) map[string]any { return map[string]any{"src": "b.conf", "dest": h(r, "etc")} },
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if got := modtest.Read(t, h(r, "etc", "b.conf")); got != "b" {
					t.Errorf("content %q", got)
				}
			},
		},
		{
			Name:  "dest ending in / and missing parents with directory_mode",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, filepath.Join(r, "files", "c"), "c", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"src": "c", "dest": h(r, "x", "y") + "/", "directory_mode": "0750"}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if got := modtest.Read(t, h(r, "x", "y", "c")); got != "c" {
					t.Errorf("content %q", got)
				}
				for _, d := range []string{h(r), h(r, "x"), h(r, "x", "y")} {
					if m := modtest.Mode(t, d); m != 0o750 {
						t.Errorf("%s: mode %o, want 750", d, m)
					}
				}
			},
		},
		{
			Name: "dest a symlink to a directory",
			Setup: func(t *testing.T, r string) {
				modtest.WriteFile(t, filepath.Join(r, "files", "d.conf"), "d", 0o644)
				os.MkdirAll(h(r, "real"), 0o755)
				os.Symlink("real", h(r, "ln"))
			},
			Args:        func(r string) map[string]any { return map[string]any{"src": "d.conf", "dest": h(r, "ln")} },
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if got := modtest.Read(t, h(r, "real", "d.conf")); got != "d" {
					t.Errorf("content %q", got)
				}
			},
		},
		{
			Name:        "content with missing parents",
			Args:        func(r string) map[string]any { return map[string]any{"content": "e", "dest": h(r, "p", "q", "e.txt")} },
			WantChanged: true,
			VerifyCheck: func(t *testing.T, r string, o modtest.Outcome) {
				if !strings.Contains(o.Msg, "create directory "+h(r)+", "+h(r, "p")+", "+h(r, "p", "q")) {
					t.Errorf("msg %q", o.Msg)
				}
			},
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if got := modtest.Read(t, h(r, "p", "q", "e.txt")); got != "e" {
					t.Errorf("content %q", got)
				}
			},
		},
		{
			Name:  "key file is secret and 0600",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "kcm-key.pem"), "OLD KEY", 0o600) },
			Args: func(r string) map[string]any {
				return map[string]any{"content": "NEW KEY", "dest": h(r, "kcm-key.pem"), "mode": "0600"}
			},
			Env:         modtest.Env{Diff: true},
			WantChanged: true,
			VerifyCheck: func(t *testing.T, r string, o modtest.Outcome) {
				if len(o.Diffs) != 1 || !o.Diffs[0].Secret || o.Diffs[0].Before != "" || o.Diffs[0].After != "" {
					t.Errorf("diffs %+v, want one secret diff without content", o.Diffs)
				}
			},
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if m := modtest.Mode(t, h(r, "kcm-key.pem")); m != 0o600 {
					t.Errorf("mode %o", m)
				}
			},
		},
		{
			Name:        "no_log hides the diff",
			Setup:       func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "plain.txt"), "a", 0o644) },
			Args:        func(r string) map[string]any { return map[string]any{"content": "b", "dest": h(r, "plain.txt")} },
			Env:         modtest.Env{Diff: true, NoLog: true},
			WantChanged: true,
			VerifyCheck: func(t *testing.T, r string, o modtest.Outcome) {
				if len(o.Diffs) != 1 || !o.Diffs[0].Secret || o.Diffs[0].Before != "" {
					t.Errorf("diffs %+v", o.Diffs)
				}
			},
		},
		{
			Name:  "backup keeps the old file",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "b.conf"), "v1", 0o640) },
			Args: func(r string) map[string]any {
				return map[string]any{"content": "v2", "dest": h(r, "b.conf"), "backup": true}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				b, _ := o.Data["backup_file"].(string)
				if !strings.HasPrefix(b, h(r, "b.conf.")) || !strings.HasSuffix(b, "~") {
					t.Fatalf("backup_file %q", b)
				}
				if modtest.Read(t, b) != "v1" || modtest.Mode(t, b) != 0o640 {
					t.Errorf("backup content or mode wrong")
				}
			},
		},
		{
			Name:  "force false leaves an existing file",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "f"), "mine", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"content": "theirs", "dest": h(r, "f"), "force": false}
			},
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if modtest.Read(t, h(r, "f")) != "mine" {
					t.Error("force: false replaced the file")
				}
			},
		},
		{
			Name:  "force false creates a missing file",
			Setup: func(t *testing.T, r string) { os.MkdirAll(h(r), 0o755) },
			Args: func(r string) map[string]any {
				return map[string]any{"content": "new", "dest": h(r, "f"), "force": "no"}
			},
			WantChanged: true,
		},
		{
			Name:  "owner and group",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "o"), "x", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"content": "x", "dest": h(r, "o"), "owner": "nobody", "group": "nogroup"}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				fi, _ := os.Stat(h(r, "o"))
				st := fi.Sys().(*syscall.Stat_t)
				u, _ := user.Lookup("nobody")
				if u == nil || u.Uid != strconv.Itoa(int(st.Uid)) {
					t.Errorf("owner uid %d, want nobody", st.Uid)
				}
			},
		},
		{
			Name:  "remote_src",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "orig.conf"), "on the host", 0o600) },
			Args: func(r string) map[string]any {
				return map[string]any{"src": h(r, "orig.conf"), "remote_src": true, "dest": h(r, "copy.conf")}
			},
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if modtest.Read(t, h(r, "copy.conf")) != "on the host" {
					t.Error("content")
				}
			},
		},
		{
			Name: "remote_src missing",
			Args: func(r string) map[string]any {
				return map[string]any{"src": h(r, "nope"), "remote_src": true, "dest": h(r, "copy.conf")}
			},
			WantFailed: true,
		},
		{
			Name: "numeric owner and group match names",
			Setup: func(t *testing.T, r string) {
				modtest.WriteFile(t, h(r, "n"), "x", 0o644)
				os.Chown(h(r, "n"), 65534, 0)
			},
			Args: func(r string) map[string]any {
				return map[string]any{"content": "x", "dest": h(r, "n"), "owner": 65534, "group": "0"}
			},
		},
		{
			Name:  "numeric owner differs",
			Setup: func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "n"), "x", 0o644) },
			Args: func(r string) map[string]any {
				return map[string]any{"content": "x", "dest": h(r, "n"), "owner": "65534"}
			},
			WantChanged: true,
		},
		{
			Name: "dest is a directory with content",
			Setup: func(t *testing.T, r string) {
				os.MkdirAll(h(r, "d"), 0o755)
			},
			Args:    func(r string) map[string]any { return map[string]any{"content": "x", "dest": h(r, "d")} },
			WantErr: "with content, dest must name a file",
		},
		{
			Name:    "src and content",
			Args:    func(r string) map[string]any { return map[string]any{"content": "x", "src": "y", "dest": h(r, "d")} },
			WantErr: "mutually exclusive",
		},
		{
			Name:    "missing src",
			Args:    func(r string) map[string]any { return map[string]any{"src": "nope.conf", "dest": h(r, "d")} },
			WantErr: `src "nope.conf" not found`,
		},
		{
			Name:    "unknown argument",
			Args:    func(r string) map[string]any { return map[string]any{"content": "x", "dset": h(r, "d")} },
			WantErr: `did you mean "dest"`,
		},
		{
			Name:       "parent is a file",
			Setup:      func(t *testing.T, r string) { modtest.WriteFile(t, h(r, "file"), "x", 0o644) },
			Args:       func(r string) map[string]any { return map[string]any{"content": "x", "dest": h(r, "file", "sub")} },
			WantFailed: true,
		},
	}
	for _, n := range modtest.Hostile {
		cases = append(cases, modtest.Case{
			Name:        "hostile dest " + n,
			Setup:       func(t *testing.T, r string) { os.MkdirAll(h(r, n), 0o755) },
			Args:        func(r string) map[string]any { return map[string]any{"content": n, "dest": h(r, n, n), "mode": "0600"} },
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if modtest.Read(t, h(r, n, n)) != n {
					t.Error("content wrong")
				}
			},
		})
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) { tc.Test(t, Copy{}) })
	}
}

// A src that an earlier task would create (the cert task's certificate) does
// not exist during --check: check mode reports the copy as a change with a
// placeholder diff, and a real run still fails on the missing file.
func TestCopySrcNotYetThere(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "issued", "kcm.pem")
	dest := filepath.Join(root, "host", "kcm.pem")
	raw := map[string]any{"src": src, "dest": dest, "mode": "0644"}

	o := modtest.Run(t, Copy{}, raw, true, modtest.Env{Dir: root, Diff: true})
	if o.Err != nil || o.Failed || !o.Changed {
		t.Fatalf("check mode: %+v", o)
	}
	if !strings.Contains(o.Msg, "does not exist yet") {
		t.Errorf("check mode message %q", o.Msg)
	}
	if len(o.Diffs) != 1 || o.Diffs[0].Path != dest || !strings.Contains(o.Diffs[0].After, src) {
		t.Errorf("check mode diffs %+v", o.Diffs)
	}
	if _, err := os.Stat(filepath.Join(root, "host")); !os.IsNotExist(err) {
		t.Errorf("check mode created the destination directory: %v", err)
	}

	o = modtest.Run(t, Copy{}, raw, false, modtest.Env{Dir: root})
	if o.Err == nil && !o.Failed {
		t.Fatalf("real run with a missing src succeeded: %+v", o)
	}
}
