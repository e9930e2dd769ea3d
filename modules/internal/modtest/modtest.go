// Package modtest runs modules in tests the way the engine does (Normalize,
// CheckArgs, Plan, then Apply outside check mode) against the real local
// connection, and fingerprints directory trees to prove check mode wrote
// nothing.
package modtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"kplay/modules"
	"kplay/transport"
	"kplay/transport/local"
)

// Outcome is what one run of a task reported.
type Outcome struct {
	Changed bool
	Failed  bool
	Skipped string // SkipInCheck in check mode, or Plan.Skipped
	Msg     string
	Data    map[string]any
	Facts   map[string]any
	Diffs   []modules.Diff
	Err     error // Normalize, CheckArgs, Plan or Apply error
}

// Env is what a task sees besides its arguments.
type Env struct {
	Dir       string // playbook directory
	Diff      bool
	NoLog     bool
	Verbosity int
	Render    func(name string, text []byte) (string, error)
	Eval      func(expr string) (any, error)
	// Conn is the task's host; nil means this machine over the local
	// connection. The controller's side (Call.Local) is always local.
	Conn transport.Conn
}

// Run runs module m with raw arguments once, in check mode or for real.
func Run(t *testing.T, m modules.Module, raw map[string]any, check bool, env Env) Outcome {
	t.Helper()
	info := m.Info()
	args, errs := modules.Normalize(info, raw)
	if len(errs) > 0 {
		return Outcome{Err: errors.Join(errs...)}
	}
	if ck, ok := m.(modules.ArgsChecker); ok {
		if err := ck.CheckArgs(args); err != nil {
			return Outcome{Err: err}
		}
	}
	conn := local.New("localhost")
	defer conn.Close()
	var hc transport.Conn = conn
	if env.Conn != nil {
		hc = env.Conn
	}
	c := &modules.Call{
		Host: "localhost", Conn: hc, Local: conn, Args: args,
		Check: check, Diff: env.Diff, Dir: env.Dir, Render: env.Render, Eval: env.Eval,
		NoLog: env.NoLog, Verbosity: env.Verbosity,
	}
	ctx := context.Background()
	p, err := m.Plan(ctx, c)
	if err != nil {
		return Outcome{Err: err}
	}
	o := Outcome{Changed: p.Changed, Failed: p.Failed, Msg: p.Msg, Data: p.Data, Facts: p.Facts, Diffs: p.Diffs, Skipped: p.Skipped}
	if p.Skipped != "" || p.Failed {
		return o
	}
	if check {
		if p.SkipInCheck != "" {
			o.Skipped = p.SkipInCheck
		}
		return o
	}
	if p.Apply == nil {
		if p.Changed {
			t.Errorf("%s: plan says changed but has no Apply", info.Name)
		}
		return o
	}
	if !p.Changed {
		t.Errorf("%s: plan says unchanged but has an Apply", info.Name)
	}
	r, err := p.Apply(ctx)
	if err != nil {
		o.Err = err
		return o
	}
	o.Changed, o.Failed, o.Msg, o.Data = r.Changed, r.Failed, r.Msg, r.Data
	if r.Facts != nil {
		o.Facts = r.Facts
	}
	if r.Diffs != nil {
		o.Diffs = r.Diffs
	}
	return o
}

// Tree fingerprints every path under dir: kind, mode, owner, content hash
// or link target. Two equal fingerprints mean nothing was written.
func Tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			desc += fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(s[:])
		case fi.IsDir():
			desc += fmt.Sprintf(" mtime %d", fi.ModTime().UnixNano())
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SameTree fails the test when two fingerprints differ, naming the paths.
func SameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	var diffs []string
	for p, d := range before {
		if after[p] != d {
			diffs = append(diffs, fmt.Sprintf("%q: %s => %s", p, d, after[p]))
		}
	}
	for p, d := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q: new %s", p, d))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("check mode changed the tree:\n%s", strings.Join(diffs, "\n"))
	}
}

// NoPwned fails when a hostile name ran its payload (touch pwned) anywhere
// under the given directories or in the working directory.
func NoPwned(t *testing.T, dirs ...string) {
	t.Helper()
	wd, _ := os.Getwd()
	for _, d := range append(dirs, wd) {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.Name() == "pwned" {
				t.Errorf("a hostile name ran code: %s exists", p)
			}
			return nil
		})
	}
}

// Hostile are path components that run code or split words if they ever
// reach a shell unquoted.
var Hostile = []string{
	"with space", "it's", `dq"uote`, "$(touch pwned)", "`touch pwned`", "semi;touch pwned", "new\nline", "-dash",
}

// Case is one row of a module's table test. Each case gets a fresh root
// directory: the playbook directory is root (files/ and templates/ under it)
// and the host's paths live wherever Args puts them under root.
type Case struct {
	Name  string
	Setup func(t *testing.T, root string)
	Args  func(root string) map[string]any
	Env   Env // Dir is set to root

	WantChanged bool
	WantFailed  bool
	WantErr     string // an error from Normalize/CheckArgs/Plan/Apply containing this
	// CheckSkips: check mode reports skipped (the module cannot know).
	CheckSkips bool
	// NotIdempotent: a second real run may report changed (touch).
	NotIdempotent bool
	// Verify inspects the tree after the real run and its outcome.
	Verify func(t *testing.T, root string, real Outcome)
	// VerifyCheck inspects the check-mode outcome.
	VerifyCheck func(t *testing.T, root string, check Outcome)
}

// Test runs the case: check mode (tree byte-identical before and after,
// same verdict as the real run), the real run, then a second real run that
// must report not changed. It does so over the local connection, then
// again over SSH to a real sshd when the package's TestMain is Main.
func (c Case) Test(t *testing.T, m modules.Module) {
	t.Helper()
	c.test(t, m, nil)
	if sshConn != nil && c.Env.Conn == nil {
		t.Run("over ssh", func(t *testing.T) { c.test(t, m, sshConn) })
	}
}

func (c Case) test(t *testing.T, m modules.Module, conn transport.Conn) {
	t.Helper()
	root := t.TempDir()
	if c.Setup != nil {
		c.Setup(t, root)
	}
	env := c.Env
	env.Dir = root
	if conn != nil {
		env.Conn = conn
	}
	args := c.Args(root)

	before := Tree(t, root)
	co := Run(t, m, args, true, env)
	SameTree(t, before, Tree(t, root))
	if c.WantErr != "" {
		if co.Err == nil || !strings.Contains(co.Err.Error(), c.WantErr) {
			t.Fatalf("check mode: err %v, want one containing %q", co.Err, c.WantErr)
		}
		ro := Run(t, m, args, false, env)
		if ro.Err == nil || !strings.Contains(ro.Err.Error(), c.WantErr) {
			t.Fatalf("real run: err %v, want one containing %q", ro.Err, c.WantErr)
		}
		SameTree(t, before, Tree(t, root))
		NoPwned(t, root)
		return
	}
	if co.Err != nil {
		t.Fatalf("check mode: %v", co.Err)
	}
	switch {
	case c.CheckSkips:
		if co.Skipped == "" {
			t.Errorf("check mode: not skipped (changed=%v msg=%q)", co.Changed, co.Msg)
		}
	case co.Skipped != "":
		t.Errorf("check mode: skipped (%s), want a verdict", co.Skipped)
	case co.Changed != c.WantChanged || co.Failed != c.WantFailed:
		t.Errorf("check mode: changed=%v failed=%v (%s), want changed=%v failed=%v", co.Changed, co.Failed, co.Msg, c.WantChanged, c.WantFailed)
	}
	if c.VerifyCheck != nil {
		c.VerifyCheck(t, root, co)
	}

	ro := Run(t, m, args, false, env)
	if ro.Err != nil {
		t.Fatalf("real run: %v", ro.Err)
	}
	if ro.Changed != c.WantChanged || ro.Failed != c.WantFailed {
		t.Errorf("real run: changed=%v failed=%v (%s), want changed=%v failed=%v", ro.Changed, ro.Failed, ro.Msg, c.WantChanged, c.WantFailed)
	}
	if c.Verify != nil {
		c.Verify(t, root, ro)
	}
	if !c.WantFailed && !c.NotIdempotent {
		again := Run(t, m, args, false, env)
		if again.Err != nil || again.Changed || again.Failed {
			t.Errorf("second run: changed=%v failed=%v err=%v (%s), want ok", again.Changed, again.Failed, again.Err, again.Msg)
		}
		// And check mode agrees that nothing is left to do.
		after := Tree(t, root)
		if co := Run(t, m, args, true, env); co.Changed && co.Skipped == "" {
			t.Errorf("check after the runs: changed (%s), want ok", co.Msg)
		}
		SameTree(t, after, Tree(t, root))
	}
	NoPwned(t, root)
}

// WriteFile writes a file for a test's setup, creating its directory.
func WriteFile(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// Read returns a file's content, failing the test when it cannot.
func Read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Mode returns a path's Unix permission bits (following links).
func Mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
