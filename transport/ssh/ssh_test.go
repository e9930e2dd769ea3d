package ssh_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"kplay/internal/sshdtest"
	"kplay/transport"
	kssh "kplay/transport/ssh"
)

// env is a set of real sshd servers and a client key they accept.
type env struct {
	c    *sshdtest.Cluster
	key  *sshdtest.UserKey
	home string // the client's $HOME, so tests never read or write the real ~/.ssh
	kh   string // a known_hosts file listing every server
}

func setup(t *testing.T, n int) *env {
	t.Helper()
	key := sshdtest.NewUserKeyT(t)
	c := sshdtest.StartT(t, n, sshdtest.Config{AuthorizedKeys: []gossh.PublicKey{key.Public}})
	e := &env{c: c, key: key, home: t.TempDir()}
	e.kh = filepath.Join(t.TempDir(), "known_hosts")
	if err := c.WriteKnownHosts(e.kh); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) config() kssh.Config {
	return kssh.Config{
		User:            "root",
		KeyFiles:        []string{e.key.Path},
		KnownHostsFiles: []string{e.kh},
		Home:            e.home,
		Agent:           "none",
		ConnectTimeout:  5 * time.Second,
	}
}

func spec(s *sshdtest.Server) transport.HostSpec {
	return transport.HostSpec{Name: s.Name, Address: s.Addr, Port: s.Port}
}

func dial(t *testing.T, d transport.Dialer, h transport.HostSpec) transport.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, h)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func run(t *testing.T, c transport.Conn, cmd transport.Command) transport.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := c.Run(ctx, cmd)
	if err != nil {
		t.Fatalf("run %q: %v", cmd.Cmd, err)
	}
	return r
}

func TestRunOnSeveralHosts(t *testing.T) {
	e := setup(t, 3)
	d := kssh.NewDialer(e.config())
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	cases := []struct {
		name       string
		cmd        transport.Command
		rc         int
		stdout     string
		stderr     string
		wantStdout []byte
	}{
		{name: "true", cmd: transport.Command{Cmd: "true"}},
		{name: "exit code", cmd: transport.Command{Cmd: "exit 3"}, rc: 3},
		{name: "stdout and stderr", cmd: transport.Command{Cmd: "echo out; echo err >&2"}, stdout: "out\n", stderr: "err\n"},
		{name: "no trailing newline", cmd: transport.Command{Cmd: "printf abc; printf def >&2"}, stdout: "abc", stderr: "def"},
		{name: "binary output", cmd: transport.Command{Cmd: `printf '\000\001\377\n\n'`}, stdout: "\x00\x01\xff\n\n"},
		{name: "multi-line script", cmd: transport.Command{Cmd: "a=1\nif [ $a = 1 ]; then\n echo one\nfi"}, stdout: "one\n"},
		{name: "working directory", cmd: transport.Command{Cmd: "pwd", Dir: "/tmp"}, stdout: "/tmp\n"},
		{name: "missing directory", cmd: transport.Command{Cmd: "pwd", Dir: "/nonexistent"}, rc: 1},
		{name: "environment", cmd: transport.Command{Cmd: `printf '%s|%s' "$A" "$B"`, Env: map[string]string{"A": "it's $HOME", "B": "x\ny"}}, stdout: "it's $HOME|x\ny"},
		{name: "stdin", cmd: transport.Command{Cmd: "cat; echo", Stdin: []byte("fed")}, stdout: "fed\n"},
		{name: "stdin is empty without input", cmd: transport.Command{Cmd: "cat"}},
		{name: "syntax error", cmd: transport.Command{Cmd: "if then fi"}, rc: 2},
		{name: "exit inside a function", cmd: transport.Command{Cmd: "f() { exit 7; }; f; echo not reached"}, rc: 7},
		{name: "closes its stdout", cmd: transport.Command{Cmd: "exec >&-; echo gone >&2"}, stderr: "gone\n"},
		{name: "large output", cmd: transport.Command{Cmd: "yes 0123456789abcdef | tr -d '\\n' | head -c 1048576"}, wantStdout: big},
		{name: "loop variables are not visible", cmd: transport.Command{Cmd: `echo "${kp_t}${kp_s}${kp_h}"`}, stdout: "\n"},
	}
	var wg sync.WaitGroup
	for _, s := range e.c.Servers {
		c := dial(t, d, spec(s))
		wg.Add(1)
		t.Run(s.Name, func(t *testing.T) {
			defer wg.Done()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					r := run(t, c, tc.cmd)
					if r.RC != tc.rc {
						t.Errorf("rc = %d, want %d (stderr %q)", r.RC, tc.rc, r.Stderr)
					}
					want := []byte(tc.stdout)
					if tc.wantStdout != nil {
						want = tc.wantStdout
					}
					if !bytes.Equal(r.Stdout, want) {
						t.Errorf("stdout = %.200q, want %.200q", r.Stdout, want)
					}
					if tc.stderr != "" && string(r.Stderr) != tc.stderr {
						t.Errorf("stderr = %q, want %q", r.Stderr, tc.stderr)
					}
				})
			}
		})
	}
	wg.Wait()
}

// Many goroutines on one connection must each get their own output.
func TestConcurrentCommandsOnOneConnection(t *testing.T) {
	e := setup(t, 1)
	c := dial(t, kssh.NewDialer(e.config()), spec(e.c.Servers[0]))
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := transport.Command{Cmd: fmt.Sprintf("echo %d; echo e%d >&2; exit %d", i, i, i%5)}
			if i%4 == 0 {
				cmd.Stdin = []byte("x") // some take the one-off session path
			}
			r, err := c.Run(ctx, cmd)
			switch {
			case err != nil:
				errs <- err
			case string(r.Stdout) != fmt.Sprintf("%d\n", i) || string(r.Stderr) != fmt.Sprintf("e%d\n", i) || r.RC != i%5:
				errs <- fmt.Errorf("command %d got rc %d stdout %q stderr %q", i, r.RC, r.Stdout, r.Stderr)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestFiles(t *testing.T) {
	e := setup(t, 1)
	c := dial(t, kssh.NewDialer(e.config()), spec(e.c.Servers[0]))
	ctx := context.Background()
	dir := t.TempDir() // sshd is local: the test can look at the files directly
	user := sshdtest.AddUserT(t, "")

	weird := filepath.Join(dir, `it's a "file" $(touch pwned) *.txt`)
	cases := []struct {
		name    string
		file    transport.File
		mode    fs.FileMode
		owner   string
		changed bool // the file is replaced (new inode)
	}{
		{name: "new file, default mode", file: transport.File{Path: filepath.Join(dir, "a"), Content: []byte("hello\n")}, mode: 0o644, owner: "root", changed: true},
		{name: "same content again", file: transport.File{Path: filepath.Join(dir, "a"), Content: []byte("hello\n")}, mode: 0o644, owner: "root"},
		{name: "mode only", file: transport.File{Path: filepath.Join(dir, "a"), Content: []byte("hello\n"), Mode: 0o600}, mode: 0o600, owner: "root"},
		{name: "new content keeps mode", file: transport.File{Path: filepath.Join(dir, "a"), Content: []byte("bye\n")}, mode: 0o600, owner: "root", changed: true},
		{name: "key file", file: transport.File{Path: filepath.Join(dir, "key.pem"), Content: []byte("secret"), Mode: 0o600, Owner: user}, mode: 0o600, owner: user, changed: true},
		{name: "owner only", file: transport.File{Path: filepath.Join(dir, "key.pem"), Content: []byte("secret"), Mode: 0o600, Owner: "root"}, mode: 0o600, owner: "root"},
		{name: "quoting", file: transport.File{Path: weird, Content: []byte("q"), Mode: 0o640}, mode: 0o640, owner: "root", changed: true},
		{name: "empty file", file: transport.File{Path: filepath.Join(dir, "empty"), Content: nil, Mode: 0o755}, mode: 0o755, owner: "root", changed: true},
		{name: "shell syntax in text content", file: transport.File{Path: filepath.Join(dir, "sh.txt"), Content: []byte("it's $(touch pwned) `touch pwned` \\\nEOF\n'EOF'\n\n")}, mode: 0o644, owner: "root", changed: true},
		{name: "large text", file: transport.File{Path: filepath.Join(dir, "large.txt"), Content: bytes.Repeat([]byte("a line of text\n"), 20000)}, mode: 0o644, owner: "root", changed: true},
		{name: "binary", file: transport.File{Path: filepath.Join(dir, "bin"), Content: []byte{0, 1, 2, 255, '\n', 0}}, mode: 0o644, owner: "root", changed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before uint64
			if fi, err := os.Stat(tc.file.Path); err == nil {
				before = fi.Sys().(*syscall.Stat_t).Ino
			}
			if err := c.WriteFile(ctx, tc.file); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(tc.file.Path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.file.Content) {
				t.Errorf("content %q, want %q", got, tc.file.Content)
			}
			fi, _ := os.Stat(tc.file.Path)
			if fi.Mode().Perm() != tc.mode {
				t.Errorf("mode %o, want %o", fi.Mode().Perm(), tc.mode)
			}
			if ino := fi.Sys().(*syscall.Stat_t).Ino; (ino != before) != tc.changed {
				t.Errorf("file replaced = %v, want %v", ino != before, tc.changed)
			}
			st, err := c.Stat(ctx, tc.file.Path, transport.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !st.Exists || st.IsDir || st.Mode != tc.mode || st.Owner != tc.owner || st.Size != int64(len(tc.file.Content)) || len(st.SHA256) != 64 {
				t.Errorf("Stat = %+v", st)
			}
			back, err := c.ReadFile(ctx, tc.file.Path, transport.Options{})
			if err != nil || !bytes.Equal(back, tc.file.Content) {
				t.Errorf("ReadFile = %q, %v", back, err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("a file name was run as a command")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".kplay-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}

	t.Run("replacing keeps owner and mode", func(t *testing.T) {
		p := filepath.Join(dir, "theirs.conf")
		if err := os.WriteFile(p, []byte("old\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		u, _ := osuser.Lookup(user)
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown(p, uid, gid)
		for _, content := range []string{"new\n", strings.Repeat("large\n", 2000)} {
			if err := c.WriteFile(ctx, transport.File{Path: p, Content: []byte(content)}); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if st := fi.Sys().(*syscall.Stat_t); string(got) != content || fi.Mode().Perm() != 0o640 || int(st.Uid) != uid || int(st.Gid) != gid {
				t.Errorf("landed %d bytes mode %o owner %d:%d, want %d bytes 0640 %d:%d", len(got), fi.Mode().Perm(), st.Uid, st.Gid, len(content), uid, gid)
			}
		}
	})
	t.Run("setuid executable", func(t *testing.T) {
		p := filepath.Join(dir, "suid")
		if err := c.WriteFile(ctx, transport.File{Path: p, Content: []byte("#!/bin/sh\n"), Mode: 0o4750}); err != nil {
			t.Fatal(err)
		}
		st, err := c.Stat(ctx, p, transport.Options{})
		if err != nil || st.Mode != 0o4750 {
			t.Errorf("Stat mode %o, %v; want 4750", st.Mode, err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		st, err := c.Stat(ctx, filepath.Join(dir, "nope"), transport.Options{})
		if err != nil || st.Exists {
			t.Errorf("Stat = %+v, %v", st, err)
		}
		if _, err := c.ReadFile(ctx, filepath.Join(dir, "nope"), transport.Options{}); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile error %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		st, err := c.Stat(ctx, dir, transport.Options{})
		if err != nil || !st.Exists || !st.IsDir || st.SHA256 != "" {
			t.Errorf("Stat = %+v, %v", st, err)
		}
		if err := c.WriteFile(ctx, transport.File{Path: dir, Content: []byte("x")}); err == nil {
			t.Error("writing over a directory succeeded")
		}
	})
	t.Run("missing parent", func(t *testing.T) {
		err := c.WriteFile(ctx, transport.File{Path: filepath.Join(dir, "no", "such", "f"), Content: []byte("x")})
		if err == nil {
			t.Error("writing into a missing directory succeeded")
		}
	})
}

func TestAuth(t *testing.T) {
	e := setup(t, 1)
	s := e.c.Servers[0]
	other := sshdtest.NewUserKeyT(t)
	agentSock := sshdtest.StartAgentT(t, e.key)
	emptyAgent := sshdtest.StartAgentT(t)
	cases := []struct {
		name    string
		mod     func(*kssh.Config, *transport.HostSpec)
		wantErr string // "" means it must connect
	}{
		{name: "key file", mod: func(*kssh.Config, *transport.HostSpec) {}},
		{name: "key file from the inventory", mod: func(c *kssh.Config, h *transport.HostSpec) { c.KeyFiles = nil; h.KeyFile = e.key.Path }},
		{name: "agent", mod: func(c *kssh.Config, h *transport.HostSpec) { c.KeyFiles = nil; c.Agent = agentSock }},
		{name: "default key file in ~/.ssh", mod: func(c *kssh.Config, h *transport.HostSpec) {
			c.KeyFiles = nil
			os.MkdirAll(filepath.Join(c.Home, ".ssh"), 0o700)
			b, _ := os.ReadFile(e.key.Path)
			os.WriteFile(filepath.Join(c.Home, ".ssh", "id_ed25519"), b, 0o600)
		}},
		{name: "wrong key", mod: func(c *kssh.Config, h *transport.HostSpec) { c.KeyFiles = []string{other.Path} }, wantErr: `authentication as user "root"`},
		{name: "no key at all", mod: func(c *kssh.Config, h *transport.HostSpec) { c.KeyFiles = nil; c.Agent = emptyAgent }, wantErr: "authentication as user"},
		{name: "missing key file", mod: func(c *kssh.Config, h *transport.HostSpec) { c.KeyFiles = []string{"/nonexistent/key"} }, wantErr: "/nonexistent/key (unusable"},
		{name: "unknown user", mod: func(c *kssh.Config, h *transport.HostSpec) { h.User = "no-such-user" }, wantErr: `authentication as user "no-such-user"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.config()
			cfg.Home = t.TempDir()
			h := spec(s)
			tc.mod(&cfg, &h)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := kssh.NewDialer(cfg).Dial(ctx, h)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if r := run(t, c, transport.Command{Cmd: "id -un"}); string(r.Stdout) != "root\n" {
					t.Errorf("logged in as %q", r.Stdout)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("connected, want an error with %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !transport.IsUnreachable(err) || !strings.Contains(err.Error(), s.Name) {
				t.Errorf("error %q, want an UnreachableError for %s with %q", err, s.Name, tc.wantErr)
			}
		})
	}
}

func TestHostKeys(t *testing.T) {
	e := setup(t, 2)
	s := e.c.Servers[0]
	fp := gossh.FingerprintSHA256(s.HostKey)
	ctx := context.Background()
	tryDial := func(cfg kssh.Config, h transport.HostSpec) error {
		c, err := kssh.NewDialer(cfg).Dial(ctx, h)
		if err == nil {
			c.Close()
		}
		return err
	}

	t.Run("unknown key refused with its fingerprint", func(t *testing.T) {
		cfg := e.config()
		cfg.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "empty")}
		err := tryDial(cfg, spec(s))
		if err == nil || !strings.Contains(err.Error(), "unknown host key") || !strings.Contains(err.Error(), fp) || !transport.IsUnreachable(err) {
			t.Fatalf("error %v, want unknown host key with %s", err, fp)
		}
	})
	t.Run("accept-new records the key", func(t *testing.T) {
		cfg := e.config()
		kh := filepath.Join(t.TempDir(), "sub", "known_hosts")
		cfg.KnownHostsFiles = []string{kh}
		cfg.AcceptNewHostKeys = true
		if err := tryDial(cfg, spec(s)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(kh)
		if err != nil || string(b) != s.KnownHostsLine() {
			t.Fatalf("known_hosts = %q (%v), want %q", b, err, s.KnownHostsLine())
		}
		cfg.AcceptNewHostKeys = false
		if err := tryDial(cfg, spec(s)); err != nil {
			t.Fatalf("recorded key not trusted: %v", err)
		}
		if b2, _ := os.ReadFile(kh); !bytes.Equal(b, b2) {
			t.Errorf("known_hosts changed on a second dial: %q", b2)
		}
	})
	t.Run("accept-new from host vars", func(t *testing.T) {
		cfg := e.config()
		cfg.KnownHostsFiles = nil
		kh := filepath.Join(t.TempDir(), "known_hosts")
		h := spec(s)
		h.Vars = map[string]any{kssh.VarKnownHosts: kh, kssh.VarHostKeyChecking: "accept-new"}
		if err := tryDial(cfg, h); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(kh); string(b) != s.KnownHostsLine() {
			t.Fatalf("known_hosts = %q", b)
		}
		if _, err := os.Stat(filepath.Join(cfg.Home, ".ssh", "known_hosts")); err == nil {
			t.Error("~/.ssh/known_hosts written, want the host var's file")
		}
	})
	t.Run("host var refuses host key checking off", func(t *testing.T) {
		h := spec(s)
		h.Vars = map[string]any{kssh.VarHostKeyChecking: "no"}
		if err := tryDial(e.config(), h); err == nil || !strings.Contains(err.Error(), "always checks host keys") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("changed key refused even with accept-new", func(t *testing.T) {
		s2 := e.c.Servers[1]
		old := gossh.FingerprintSHA256(s2.HostKey)
		if err := s2.RotateHostKey(); err != nil {
			t.Fatal(err)
		}
		for _, accept := range []bool{false, true} {
			cfg := e.config()
			cfg.AcceptNewHostKeys = accept
			err := tryDial(cfg, spec(s2))
			if err == nil || !strings.Contains(err.Error(), "HOST KEY CHANGED") ||
				!strings.Contains(err.Error(), gossh.FingerprintSHA256(s2.HostKey)) || !strings.Contains(err.Error(), old) || !transport.IsUnreachable(err) {
				t.Fatalf("accept-new=%v: error %v, want a changed-key refusal naming both fingerprints", accept, err)
			}
		}
		if b, _ := os.ReadFile(e.kh); strings.Contains(string(b), s2.KnownHostsLine()) {
			t.Error("changed key recorded")
		}
	})
}

func TestUnreachableHostDoesNotStopOthers(t *testing.T) {
	e := setup(t, 2)
	d := kssh.NewDialer(e.config())
	hosts := []transport.HostSpec{spec(e.c.Servers[0]), {Name: "nothing", Address: "127.0.0.1", Port: 1}, spec(e.c.Servers[1])}
	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	out := make([]string, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.Dial(context.Background(), h)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			r, err := c.Run(context.Background(), transport.Command{Cmd: "echo ok"})
			errs[i], out[i] = err, string(r.Stdout)
		}()
	}
	wg.Wait()
	for i, h := range hosts {
		if h.Name == "nothing" {
			if !transport.IsUnreachable(errs[i]) || !strings.Contains(errs[i].Error(), "nothing") || !strings.Contains(errs[i].Error(), "refused") {
				t.Errorf("%s: error %v, want unreachable, connection refused", h.Name, errs[i])
			}
			continue
		}
		if errs[i] != nil || out[i] != "ok\n" {
			t.Errorf("%s: %q, %v", h.Name, out[i], errs[i])
		}
	}
}

// A connection that dies while idle is reported unreachable on next use.
func TestDeadConnectionIsUnreachable(t *testing.T) {
	e := setup(t, 1)
	s := e.c.Servers[0]
	c := dial(t, kssh.NewDialer(e.config()), spec(s))
	run(t, c, transport.Command{Cmd: "true"})
	s.KillConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Run(ctx, transport.Command{Cmd: "true"})
	if !transport.IsUnreachable(err) {
		t.Fatalf("error %v, want unreachable", err)
	}
}

// sshd dying in the middle of a large transfer leaves no partial file at the
// destination, and writing again once the host is back lands the file.
func TestKilledTransferLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: sends 256 MiB; `make test` runs it")
	}
	e := setup(t, 1)
	s := e.c.Servers[0]
	d := kssh.NewDialer(e.config())
	dir := t.TempDir()
	dst := filepath.Join(dir, "big.bin")
	old := []byte("previous content\n")
	if err := os.WriteFile(dst, old, 0o644); err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 256<<20)
	rand.Read(content)

	c := dial(t, d, spec(s))
	errc := make(chan error, 1)
	go func() {
		errc <- c.WriteFile(context.Background(), transport.File{Path: dst, Content: content, Mode: 0o600})
	}()
	// Wait until the temporary file is growing, then kill sshd and its sessions.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if tmp, _ := filepath.Glob(filepath.Join(dir, ".big.bin.kplay-*")); len(tmp) > 0 {
			if fi, err := os.Stat(tmp[0]); err == nil && fi.Size() > 1<<20 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("transfer never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if !transport.IsUnreachable(err) {
		t.Errorf("error %v, want unreachable", err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, old) {
		t.Errorf("destination changed by a killed transfer: %d bytes", len(got))
	}

	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, d, spec(s))
	if err := c2.WriteFile(context.Background(), transport.File{Path: dst, Content: content, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, content) {
		t.Errorf("retry landed %d bytes, want %d", len(got), len(content))
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only big.bin", names)
	}
}

func TestBecome(t *testing.T) {
	e := setup(t, 1)
	s := e.c.Servers[0]
	nopass := sshdtest.AddUserT(t, "ALL=(ALL) NOPASSWD: ALL")
	withpass := sshdtest.AddUserT(t, "ALL=(ALL) ALL")
	other := sshdtest.AddUserT(t, "")
	login := func(user string) transport.Conn {
		h := spec(s)
		h.User = user
		return dial(t, kssh.NewDialer(e.config()), h)
	}
	ctx := context.Background()

	c := login(nopass)
	cases := []struct {
		name string
		opt  transport.Options
		want string
	}{
		{name: "no become", want: nopass},
		{name: "become root", opt: transport.Options{Become: true}, want: "root"},
		{name: "become another user", opt: transport.Options{Become: true, BecomeUser: other}, want: other},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, c, transport.Command{Cmd: `id -un; pwd; echo "$X"`, Dir: "/tmp", Env: map[string]string{"X": "it's"}, Options: tc.opt})
			if want := tc.want + "\n/tmp\nit's\n"; string(r.Stdout) != want || r.RC != 0 {
				t.Errorf("got rc %d %q (stderr %q), want %q", r.RC, r.Stdout, r.Stderr, want)
			}
			r = run(t, c, transport.Command{Cmd: "id -un; cat", Stdin: []byte("in"), Options: tc.opt})
			if want := tc.want + "\nin"; string(r.Stdout) != want {
				t.Errorf("with stdin: got %q, want %q", r.Stdout, want)
			}
		})
	}
	t.Run("write a root-owned key file", func(t *testing.T) {
		dir := t.TempDir() // root's, 0700: the login user cannot write there
		p := filepath.Join(dir, "key.pem")
		err := c.WriteFile(ctx, transport.File{Path: p, Content: []byte("k"), Mode: 0o600, Options: transport.Options{Become: true}})
		if err == nil {
			// and text, which takes the command loop rather than a session
			err = c.WriteFile(ctx, transport.File{Path: p + ".txt", Content: []byte("k\n"), Mode: 0o600, Options: transport.Options{Become: true}})
		}
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Fatalf("landed %v, %v", fi, err)
		}
		b, err := c.ReadFile(ctx, p, transport.Options{Become: true})
		if err != nil || string(b) != "k" {
			t.Errorf("ReadFile = %q, %v", b, err)
		}
		if _, err := c.ReadFile(ctx, p, transport.Options{}); err == nil {
			t.Error("read a root-only file without become")
		}
	})
	t.Run("sudo wants a password", func(t *testing.T) {
		c := login(withpass)
		_, err := c.Run(ctx, transport.Command{Cmd: "id -un", Options: transport.Options{Become: true}})
		if err == nil || !strings.Contains(err.Error(), "sudo wants a password") {
			t.Errorf("error %v, want one saying sudo wants a password", err)
		}
	})
	t.Run("not in sudoers", func(t *testing.T) {
		c := login(other)
		_, err := c.Run(ctx, transport.Command{Cmd: "id -un", Options: transport.Options{Become: true}})
		if err == nil || !strings.Contains(err.Error(), "sudo") {
			t.Errorf("error %v, want a sudo refusal", err)
		}
	})
}

// ProxyJump in ~/.ssh/config reaches a host through a bastion.
func TestProxyJump(t *testing.T) {
	e := setup(t, 2)
	bastion, target := e.c.Servers[0], e.c.Servers[1]
	cfg := e.config()
	os.MkdirAll(filepath.Join(cfg.Home, ".ssh"), 0o700)
	conf := fmt.Sprintf("Host bastion\n  HostName %s\n  Port %d\n  User root\n\nHost target\n  HostName %s\n  Port %d\n  ProxyJump bastion\n",
		bastion.Addr, bastion.Port, target.Addr, target.Port)
	if err := os.WriteFile(filepath.Join(cfg.Home, ".ssh", "config"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// -u names the destination's user; the bastion's comes from its Host block.
	cfg.User = "no-such-user"
	c := dial(t, kssh.NewDialer(cfg), transport.HostSpec{Name: "target", User: "root"})
	// The target sees the connection coming from the bastion's sshd, which
	// connects from 127.0.0.1 however it was reached.
	r := run(t, c, transport.Command{Cmd: `echo "$SSH_CONNECTION"`})
	if f := strings.Fields(string(r.Stdout)); len(f) != 4 || f[2] != target.Addr {
		t.Errorf("SSH_CONNECTION %q, want a connection to %s", r.Stdout, target.Addr)
	}
}

// A host that accepts TCP but never answers (SIGSTOPped sshd) is
// unreachable after ConnectTimeout, not a hang.
func TestConnectTimeout(t *testing.T) {
	e := setup(t, 1)
	s := e.c.Servers[0]
	s.Freeze()
	defer s.Thaw()
	cfg := e.config()
	cfg.ConnectTimeout = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := kssh.NewDialer(cfg).Dial(ctx, spec(s))
	if !transport.IsUnreachable(err) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("error %v, want unreachable: timed out", err)
	}
}

// Keepalives notice a host that hangs with a connection open: the command
// waiting on it fails as unreachable instead of waiting for TCP to give up.
func TestKeepaliveNoticesHungHost(t *testing.T) {
	e := setup(t, 1)
	s := e.c.Servers[0]
	cfg := e.config()
	cfg.Keepalive = 200 * time.Millisecond
	cfg.KeepaliveMax = 2
	c := dial(t, kssh.NewDialer(cfg), spec(s))
	run(t, c, transport.Command{Cmd: "true"})
	s.Freeze()
	defer s.Thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := c.Run(ctx, transport.Command{Cmd: "true"})
	if !transport.IsUnreachable(err) || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("error %v, want unreachable after keepalives", err)
	}
}

// A command stopped by its context returns the context's error, and the
// connection goes on serving the next ones.
func TestCancelledCommand(t *testing.T) {
	e := setup(t, 1)
	c := dial(t, kssh.NewDialer(e.config()), spec(e.c.Servers[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, transport.Command{Cmd: "sleep 30"})
	if !errors.Is(err, context.DeadlineExceeded) || transport.IsUnreachable(err) {
		t.Fatalf("error %v, want the context's deadline", err)
	}
	if r := run(t, c, transport.Command{Cmd: "echo still here"}); string(r.Stdout) != "still here\n" {
		t.Errorf("next command got %q", r.Stdout)
	}
	// A command leaving a process in the background returns at once (over a
	// session of its own, ssh would wait for the process to close its output).
	r := run(t, c, transport.Command{Cmd: "sleep 1 >/dev/null & echo now"})
	if string(r.Stdout) != "now\n" {
		t.Errorf("got %q", r.Stdout)
	}
}
