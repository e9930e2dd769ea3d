package ssh

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runTarget runs StatTarget's script through the local /bin/sh, as the
// command loop would on a host, and parses its output.
func runTarget(t *testing.T, dest, base string) (res struct {
	path, bad string
	missing   []string
	exists    bool
	isDir     bool
	sum       string
}, stderr string, err error) {
	t.Helper()
	joined := ""
	if base != "" {
		joined = filepath.Join(dest, base)
	}
	cmd := exec.Command("/bin/sh", "-c", targetScript(dest, joined, base != "" && strings.HasSuffix(dest, "/")))
	var errb strings.Builder
	cmd.Stderr = &errb
	out, runErr := cmd.Output()
	if runErr != nil {
		return res, errb.String(), runErr
	}
	tg, err := parseTarget(string(out), dest, joined)
	if err != nil {
		return res, errb.String(), err
	}
	res.path, res.bad, res.missing = tg.Path, tg.Bad, tg.Missing
	res.exists, res.isDir, res.sum = tg.Info.Exists, tg.Info.IsDir, tg.Info.SHA256
	return res, errb.String(), nil
}

func TestTargetScript(t *testing.T) {
	const sumHi = "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4" // "hi\n"
	tests := []struct {
		name    string
		setup   func(r string)
		dest    string // under the root; a trailing / is kept
		base    string
		path    string // want, under the root
		missing []string
		bad     string
		exists  bool
		isDir   bool
		sum     string
		wantErr string
	}{
		{name: "new file, parent there", dest: "a.txt", path: "a.txt"},
		{name: "existing file", setup: func(r string) { os.WriteFile(filepath.Join(r, "a.txt"), []byte("hi\n"), 0o644) },
			dest: "a.txt", base: "src.txt", path: "a.txt", exists: true, sum: sumHi},
		{name: "missing parents, outermost first", dest: "x/y/z.txt", path: "x/y/z.txt", missing: []string{"x", "x/y"}},
		{name: "dest a directory takes the base name", setup: func(r string) { os.Mkdir(filepath.Join(r, "etc"), 0o755) },
			dest: "etc", base: "b.conf", path: "etc/b.conf"},
		{name: "dest a directory, file inside exists", setup: func(r string) {
			os.Mkdir(filepath.Join(r, "etc"), 0o755)
			os.WriteFile(filepath.Join(r, "etc", "b.conf"), []byte("hi\n"), 0o600)
		}, dest: "etc", base: "b.conf", path: "etc/b.conf", exists: true, sum: sumHi},
		{name: "dest a symlink to a directory", setup: func(r string) {
			os.Mkdir(filepath.Join(r, "real"), 0o755)
			os.Symlink("real", filepath.Join(r, "ln"))
		}, dest: "ln", base: "b.conf", path: "ln/b.conf"},
		{name: "dest a directory without a base is the directory", setup: func(r string) { os.Mkdir(filepath.Join(r, "etc"), 0o755) },
			dest: "etc", path: "etc", exists: true, isDir: true},
		{name: "trailing slash and missing parents", dest: "x/y/", base: "c", path: "x/y/c", missing: []string{"x", "x/y"}},
		{name: "parent is a file", setup: func(r string) { os.WriteFile(filepath.Join(r, "f"), nil, 0o644) },
			dest: "f/sub/a", path: "f/sub/a", missing: []string{"f/sub"}, bad: "f/sub/a: parent f is not a directory"},
		// A dangling symlink is missing, as Stat (and os.Stat) say.
		{name: "parent is a dangling symlink", setup: func(r string) { os.Symlink("nowhere", filepath.Join(r, "ln")) },
			dest: "ln/a", path: "ln/a", missing: []string{"ln"}},
		{name: "dest a dangling symlink", setup: func(r string) { os.Symlink("nowhere", filepath.Join(r, "ln")) },
			dest: "ln", base: "x", path: "ln"},
		{name: "parent a file below a trailing slash", setup: func(r string) { os.WriteFile(filepath.Join(r, "f"), nil, 0o644) },
			dest: "f/a/b/", base: "c", path: "f/a/b/c", missing: []string{"f/a", "f/a/b"}, bad: "f/a/b/c: parent f is not a directory"},
		{name: "hostile names", dest: "$(touch pwned)/new\nline/it's", path: "$(touch pwned)/new\nline/it's",
			missing: []string{"$(touch pwned)", "$(touch pwned)/new\nline"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := t.TempDir()
			if tc.setup != nil {
				tc.setup(r)
			}
			dest := filepath.Join(r, tc.dest)
			if strings.HasSuffix(tc.dest, "/") {
				dest += "/"
			}
			got, stderr, err := runTarget(t, dest, tc.base)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(stderr, tc.wantErr) {
					t.Fatalf("err %v, stderr %q, want %q", err, stderr, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, stderr)
			}
			var missing []string
			for _, m := range got.missing {
				rel, _ := filepath.Rel(r, m)
				missing = append(missing, rel)
			}
			if got.path != filepath.Join(r, tc.path) || !slices.Equal(missing, tc.missing) ||
				strings.ReplaceAll(got.bad, r+"/", "") != tc.bad || got.exists != tc.exists || got.isDir != tc.isDir || got.sum != tc.sum {
				t.Errorf("got %+v (missing %q)", got, missing)
			}
			if _, err := os.Stat(filepath.Join(r, "pwned")); err == nil {
				t.Error("a hostile name ran code")
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	f.Add("file\nmissing 0\nmissing 1\nstat\nmissing\n", "/a/b/c", "")
	f.Add("into\nstat\n-rw-r--r-- 1 root root 3 Nov 25 03:00 /a/b\n"+strings.Repeat("0", 64)+"  -\n", "/a", "/a/b")
	f.Add("file\nnotdir 1\nstat\nmissing\n", "/a/b/c", "")
	f.Fuzz(func(t *testing.T, out, dest, joined string) {
		tg, err := parseTarget(out, dest, joined)
		if err != nil {
			return
		}
		if tg.Path != dest && tg.Path != joined {
			t.Fatalf("path %q is neither %q nor %q", tg.Path, dest, joined)
		}
		if tg.Info.Exists && (len(tg.Missing) > 0 || tg.Bad != "") {
			t.Fatalf("an existing target with missing parents: %+v", tg)
		}
		// the missing directories are named cleaned, as parents gives them:
		// "0" is above "./0/0", "/a/b" above "/a//b/c"
		for _, m := range tg.Missing {
			if !strings.HasPrefix(path.Clean(tg.Path), m+"/") {
				t.Fatalf("missing %q is not above %q", m, tg.Path)
			}
		}
	})
}
