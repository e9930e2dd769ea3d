package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"kplay/transport"
	"kplay/transport/posix"
)

// hostileNames would run code or split words if a path reached sh bare.
var hostileNames = []string{
	"plain", "with space", "it's", `dq"uote`, "$(touch pwned)", "`touch pwned`",
	"semi;touch pwned", "new\nline", "-dash", "star*",
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// needRootAndSudo fails (not skips) a test that needs what the CI image has.
func needRootAndSudo(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (to become another user with sudo -n); run as root as CI does")
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Fatal("this test needs sudo installed (make deps)")
	}
}

// noPwned fails when any hostile name ran its payload in dir.
func noPwned(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pwned")); err == nil {
			t.Fatalf("a hostile name executed: %s/pwned exists", d)
		}
	}
}

func TestRun(t *testing.T) {
	c := New("localhost")
	dir := t.TempDir()
	odd := filepath.Join(dir, "sub dir $(touch pwned)")
	if err := os.Mkdir(odd, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		cmd        transport.Command
		rc         int
		stdout     string
		stderrHas  string
		wantErrHas string
	}{
		{name: "echo", cmd: transport.Command{Cmd: "echo hi"}, stdout: "hi\n"},
		{name: "rc and stderr", cmd: transport.Command{Cmd: "echo oops >&2; exit 3"}, rc: 3, stderrHas: "oops"},
		{name: "stdin", cmd: transport.Command{Cmd: "cat", Stdin: []byte("fed\n")}, stdout: "fed\n"},
		{name: "env", cmd: transport.Command{Cmd: `printf %s "$GREETING"`, Env: map[string]string{"GREETING": "a b $(x)"}}, stdout: "a b $(x)"},
		{name: "dir", cmd: transport.Command{Cmd: "pwd", Dir: odd}, stdout: odd + "\n"},
		{name: "killed by signal", cmd: transport.Command{Cmd: "kill -TERM $$"}, rc: 128 + 15},
		{name: "missing dir", cmd: transport.Command{Cmd: "true", Dir: filepath.Join(dir, "nope")}, wantErrHas: "nope"},
		{name: "bad env name", cmd: transport.Command{Cmd: "true", Env: map[string]string{"A B": "x"}}, wantErrHas: "not valid"},
		{name: "become self is plain", cmd: transport.Command{Cmd: "id -u", Options: transport.Options{Become: true, BecomeUser: c.user}}, stdout: strconv.Itoa(os.Geteuid()) + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Run(context.Background(), tc.cmd)
			if tc.wantErrHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrHas) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErrHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.RC != tc.rc {
				t.Errorf("rc %d, want %d", res.RC, tc.rc)
			}
			if tc.stdout != "" && string(res.Stdout) != tc.stdout {
				t.Errorf("stdout %q, want %q", res.Stdout, tc.stdout)
			}
			if !strings.Contains(string(res.Stderr), tc.stderrHas) {
				t.Errorf("stderr %q, want %q in it", res.Stderr, tc.stderrHas)
			}
		})
	}
	noPwned(t, dir, odd)
}

// TestRunCancelKillsGroup: cancelling kills the whole process group, so a
// pipeline's children do not outlive the task.
func TestRunCancelKillsGroup(t *testing.T) {
	c := New("localhost")
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, transport.Command{Cmd: "sleep 300 & echo $! > " + pidFile + "; wait"})
		done <- err
	}()
	var pid int
	for pid == 0 {
		b, _ := os.ReadFile(pidFile)
		if s := strings.TrimSpace(string(b)); s != "" && strings.HasSuffix(string(b), "\n") {
			for _, ch := range s {
				pid = pid*10 + int(ch-'0')
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	// The killed child is gone (a zombie at most until init reaps it).
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			break
		}
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBecomeRun(t *testing.T) {
	needRootAndSudo(t)
	c := New("localhost")
	dir, err := os.MkdirTemp("", "kplay-become-dir $(touch pwned) ")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	res, err := c.Run(context.Background(), transport.Command{
		Cmd:     `printf '%s %s %s' "$(id -un)" "$X" "$(pwd)"`,
		Env:     map[string]string{"X": "kept"},
		Dir:     dir,
		Options: transport.Options{Become: true, BecomeUser: "nobody"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(res.Stdout), "nobody kept "+dir; got != want {
		t.Fatalf("became %q, want %q (stderr %s)", got, want, res.Stderr)
	}
	noPwned(t, dir)
}

func TestClosed(t *testing.T) {
	c := New("localhost")
	c.Close()
	ctx := context.Background()
	if _, err := c.Run(ctx, transport.Command{Cmd: "true"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	if _, err := c.Stat(ctx, "/", transport.Options{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Stat after Close: %v", err)
	}
	if _, err := c.ReadFile(ctx, "/etc/hostname", transport.Options{}); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadFile after Close: %v", err)
	}
	if err := c.WriteFile(ctx, transport.File{Path: filepath.Join(t.TempDir(), "x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteFile after Close: %v", err)
	}
}

// TestStatNativeMatchesPosix: the os-based Stat and the shell-based one (used
// under sudo, and by ssh) describe the same paths identically.
func TestStatNativeMatchesPosix(t *testing.T) {
	c := New("localhost")
	ctx := context.Background()
	dir := t.TempDir()
	for _, n := range hostileNames {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("content of "+n), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	suid := filepath.Join(dir, "suid")
	os.WriteFile(suid, nil, 0o755)
	os.Chmod(suid, 0o755|fs.ModeSetuid|fs.ModeSticky)
	os.Symlink(filepath.Join(dir, "plain"), filepath.Join(dir, "link"))
	os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "dangling"))
	paths := []string{dir, suid, filepath.Join(dir, "link"), filepath.Join(dir, "dangling"),
		filepath.Join(dir, "missing"), filepath.Join(dir, "plain", "under-a-file")}
	for _, n := range hostileNames {
		paths = append(paths, filepath.Join(dir, n))
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			native, err := c.Stat(ctx, p, transport.Options{})
			if err != nil {
				t.Fatal(err)
			}
			viaSh, err := posix.Stat(ctx, c.Run, p, transport.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if native != viaSh {
				t.Fatalf("native %+v\nposix  %+v", native, viaSh)
			}
		})
	}
	if fi, _ := c.Stat(ctx, suid, transport.Options{}); fi.Mode != 0o5755 {
		t.Errorf("suid mode %o, want 5755", fi.Mode)
	}
	if fi, _ := c.Stat(ctx, filepath.Join(dir, "plain"), transport.Options{}); fi.SHA256 != sum([]byte("content of plain")) || fi.Size != 16 {
		t.Errorf("plain: %+v", fi)
	}
	noPwned(t, dir)
}

func TestReadFileMissing(t *testing.T) {
	needRootAndSudo(t)
	c := New("localhost")
	p := filepath.Join(t.TempDir(), "missing")
	for _, opt := range []transport.Options{{}, {Become: true, BecomeUser: "nobody"}} {
		if _, err := c.ReadFile(context.Background(), p, opt); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("become=%v: err %v, want fs.ErrNotExist", opt.Become, err)
		}
	}
}

// TestCreateTempMode: the temporary file exists with the final permissions
// from its creation (umask 0 shows the mode exactly), never wider.
func TestCreateTempMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for _, perm := range []fs.FileMode{0o600, 0o400, 0o644, 0o755} {
		f, err := createTemp(dir, "key.pem", perm)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.Stat()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != perm {
			t.Errorf("temp created %o, want %o", st.Mode().Perm(), perm)
		}
		if !strings.HasPrefix(filepath.Base(f.Name()), ".key.pem.kplay-") {
			t.Errorf("temp name %q is not hidden next to its target", f.Name())
		}
	}
}

// TestWriteFileTempNeverWider watches every temporary file at its creation
// (umask 0, so the creation mode is exactly what the code asked for): a key
// written 0600 or 0400 is never, even briefly, readable by others.
func TestWriteFileTempNeverWider(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	var seen []fs.FileMode
	afterCreate = func(f *os.File) {
		st, err := f.Stat()
		if err != nil {
			t.Error(err)
			return
		}
		if st.Size() != 0 {
			t.Errorf("temporary file has content before its mode was checked")
		}
		seen = append(seen, st.Mode().Perm())
	}
	defer func() { afterCreate = nil }()
	c := New("localhost")
	dir := t.TempDir()
	for _, tc := range []struct {
		name      string
		pre, mode fs.FileMode // pre: an existing file's mode, 0 none
		want      fs.FileMode
	}{
		{"new key 0600", 0, 0o600, 0o600},
		{"new key 0400", 0, 0o400, 0o400},
		{"replace a 0644 file as 0600", 0o644, 0o600, 0o600},
		{"keep an existing 0600", 0o600, 0, 0o600},
		{"new default", 0, 0, 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+"-key.pem")
			if tc.pre != 0 {
				os.WriteFile(p, []byte("old"), tc.pre)
			}
			if err := c.WriteFile(context.Background(), transport.File{Path: p, Content: []byte("KEY"), Mode: tc.mode}); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 1 || seen[0] != tc.want {
				t.Fatalf("temporary file created with %o, want %o", seen, tc.want)
			}
			if m := modeOf(t, p); m != tc.want {
				t.Fatalf("final mode %o, want %o", m, tc.want)
			}
		})
	}
}

func modeOf(t *testing.T, p string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

type writeCase struct {
	name    string
	pre     func(t *testing.T, p string) // state before the write
	file    transport.File
	mode    fs.FileMode
	owner   string
	group   string
	wantErr string
}

func writeCases() []writeCase {
	return []writeCase{
		{name: "new default mode", file: transport.File{Content: []byte("a")}, mode: 0o644, owner: "root", group: "root"},
		{name: "new key 0600", file: transport.File{Content: []byte("k"), Mode: 0o600}, mode: 0o600, owner: "root", group: "root"},
		{name: "setuid kept", file: transport.File{Content: []byte("s"), Mode: 0o4755}, mode: 0o4755, owner: "root", group: "root"},
		{name: "replace keeps mode and owner", pre: func(t *testing.T, p string) {
			os.WriteFile(p, []byte("old"), 0o640)
			os.Chmod(p, 0o640)
			os.Chown(p, 65534, 65534)
		}, file: transport.File{Content: []byte("new")}, mode: 0o640, owner: "nobody", group: "nogroup"},
		{name: "explicit owner group", file: transport.File{Content: []byte("o"), Mode: 0o600, Owner: "nobody", Group: "nogroup"}, mode: 0o600, owner: "nobody", group: "nogroup"},
		{name: "unknown owner", file: transport.File{Content: []byte("o"), Owner: "no-such-user-kplay"}, wantErr: "no-such-user-kplay"},
		{name: "onto a directory", pre: func(t *testing.T, p string) { os.Mkdir(p, 0o755) }, file: transport.File{Content: []byte("x")}, wantErr: "is a directory"},
	}
}

func TestWriteFile(t *testing.T) {
	needRootAndSudo(t)
	c := New("localhost")
	ctx := context.Background()
	for _, via := range []struct {
		name string
		opt  transport.Options
	}{{"native", transport.Options{}}, {"sudo", transport.Options{Become: true, BecomeUser: "root"}}} {
		for _, tc := range writeCases() {
			for _, n := range []string{"plain", "it's $(touch pwned);\nx"} {
				t.Run(via.name+"/"+tc.name+"/"+n, func(t *testing.T) {
					dir := t.TempDir()
					p := filepath.Join(dir, n)
					if tc.pre != nil {
						tc.pre(t, p)
					}
					f := tc.file
					f.Path = p
					f.Options = via.opt
					// "sudo" to root while root is plain: force the shell
					// path by calling it directly.
					var err error
					if via.name == "sudo" {
						err = posix.WriteFile(ctx, c.Run, f)
					} else {
						err = c.WriteFile(ctx, f)
					}
					if tc.wantErr != "" {
						if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
							t.Fatalf("err %v, want %q", err, tc.wantErr)
						}
					} else {
						if err != nil {
							t.Fatal(err)
						}
						b, _ := os.ReadFile(p)
						if string(b) != string(f.Content) {
							t.Errorf("content %q, want %q", b, f.Content)
						}
						fi, err := c.Stat(ctx, p, transport.Options{})
						if err != nil {
							t.Fatal(err)
						}
						if fi.Mode != tc.mode || fi.Owner != tc.owner || fi.Group != tc.group {
							t.Errorf("got %o %s:%s, want %o %s:%s", fi.Mode, fi.Owner, fi.Group, tc.mode, tc.owner, tc.group)
						}
					}
					ents, _ := os.ReadDir(dir)
					for _, e := range ents {
						if strings.Contains(e.Name(), ".kplay-") {
							t.Errorf("temporary file left behind: %q", e.Name())
						}
					}
					noPwned(t, dir)
				})
			}
		}
	}
}

// TestBecomeFiles goes through sudo to an unprivileged user for real.
func TestBecomeFiles(t *testing.T) {
	needRootAndSudo(t)
	c := New("localhost")
	ctx := context.Background()
	// t.TempDir's parent is 0700: nobody needs a directory it can reach.
	dir, err := os.MkdirTemp("", "kplay-become-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	nobody := transport.Options{Become: true, BecomeUser: "nobody"}
	p := filepath.Join(dir, "sp ace $(touch pwned)")
	if err := c.WriteFile(ctx, transport.File{Path: p, Content: []byte("as nobody"), Mode: 0o600, Options: nobody}); err != nil {
		t.Fatal(err)
	}
	fi, err := c.Stat(ctx, p, nobody)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Owner != "nobody" || fi.Mode != 0o600 || fi.SHA256 != sum([]byte("as nobody")) {
		t.Fatalf("stat as nobody: %+v", fi)
	}
	b, err := c.ReadFile(ctx, p, nobody)
	if err != nil || string(b) != "as nobody" {
		t.Fatalf("read as nobody: %q %v", b, err)
	}
	// nobody cannot read root's 0600 file: sudo really changed user.
	secret := filepath.Join(dir, "root-only")
	os.WriteFile(secret, []byte("x"), 0o600)
	if _, err := c.ReadFile(ctx, secret, nobody); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("nobody read root's 0600 file: err %v", err)
	}
	noPwned(t, dir)
}
