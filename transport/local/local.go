// Package local is the `local` connection (ansible_connection=local,
// delegate_to: localhost): commands run through `sh -c` on this machine and
// files are read and written with Go's os package. When a call asks to become
// a user other than the one kplay runs as, it goes through `sudo -n`, and file
// operations then use the shell commands of package posix under sudo.
package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"kplay/transport"
	"kplay/transport/posix"
)

// Conn is a connection to this machine. It is safe for concurrent use.
type Conn struct {
	host   string
	user   string // the user kplay runs as
	closed atomic.Bool

	mu    sync.Mutex
	names map[string]string // "u1000" / "g1000" -> name, cached lookups
}

var (
	_ transport.Conn   = (*Conn)(nil)
	_ transport.Dialer = Dialer{}
)

// New returns a connection to this machine; host names it in errors.
func New(host string) *Conn {
	name := strconv.Itoa(os.Geteuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return &Conn{host: host, user: name, names: map[string]string{}}
}

// Dialer opens local connections.
type Dialer struct{}

// Dial returns a local connection for h; it cannot fail.
func (Dialer) Dial(ctx context.Context, h transport.HostSpec) (transport.Conn, error) {
	return New(h.Name), nil
}

// ErrClosed is returned by calls on a closed Conn.
var ErrClosed = errors.New("local connection closed")

// Close marks the connection closed; later calls fail with ErrClosed.
func (c *Conn) Close() error {
	c.closed.Store(true)
	return nil
}

// sudoUser returns the user to become through sudo, or "" when the call runs
// as kplay's own user.
func (c *Conn) sudoUser(o transport.Options) string {
	if !o.Become {
		return ""
	}
	u := o.BecomeUser
	if u == "" {
		u = "root"
	}
	if u == c.user || (u == "root" && os.Geteuid() == 0) {
		return ""
	}
	return u
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// waitDelay bounds how long Run waits for the output pipes after the command
// ended or was killed: a background grandchild holding them open must not
// hang kplay.
const waitDelay = 5 * time.Second

// Run runs cmd.Cmd through `sh -c`; see transport.Conn.Run.
func (c *Conn) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	if c.closed.Load() {
		return transport.Result{}, fmt.Errorf("%s: %w", c.host, ErrClosed)
	}
	keys := make([]string, 0, len(cmd.Env))
	for k := range cmd.Env {
		if !envName.MatchString(k) {
			return transport.Result{}, fmt.Errorf("%s: environment variable name %q is not valid", c.host, k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+cmd.Env[k])
	}

	var x *exec.Cmd
	if u := c.sudoUser(cmd.Options); u != "" {
		// sudo resets the environment, so the task's variables go through
		// env(1) after it. sudo keeps the working directory.
		argv := []string{"-n", "-u", u, "--", "env"}
		argv = append(argv, env...)
		argv = append(argv, "sh", "-c", cmd.Cmd)
		x = exec.CommandContext(ctx, "sudo", argv...)
	} else {
		x = exec.CommandContext(ctx, "sh", "-c", cmd.Cmd)
		x.Env = append(os.Environ(), env...)
	}
	x.Dir = cmd.Dir
	x.Stdin = bytes.NewReader(cmd.Stdin)
	var stdout, stderr bytes.Buffer
	x.Stdout, x.Stderr = &stdout, &stderr
	// Its own process group, so cancelling kills the whole pipeline, not
	// just sh.
	x.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	x.Cancel = func() error { return syscall.Kill(-x.Process.Pid, syscall.SIGKILL) }
	x.WaitDelay = waitDelay

	err := x.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return transport.Result{}, fmt.Errorf("%s: %s: %w", c.host, cmd.Cmd, ctxErr)
	}
	res := transport.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.RC = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.RC = 128 + int(ws.Signal()) // as sh reports it
		}
	default:
		// sh could not start, or the working directory is missing.
		return transport.Result{}, fmt.Errorf("%s: run %q in %q: %w", c.host, cmd.Cmd, cmd.Dir, err)
	}
	return res, nil
}

// Stat describes a path, following symlinks; see transport.Conn.Stat. Mode
// holds the Unix bits 0o7777.
func (c *Conn) Stat(ctx context.Context, path string, opt transport.Options) (transport.FileInfo, error) {
	if c.closed.Load() {
		return transport.FileInfo{}, fmt.Errorf("%s: %w", c.host, ErrClosed)
	}
	if c.sudoUser(opt) != "" {
		fi, err := posix.Stat(ctx, c.Run, path, opt)
		if err != nil {
			return fi, fmt.Errorf("%s: %w", c.host, err)
		}
		return fi, nil
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return transport.FileInfo{}, nil
	}
	if err != nil {
		return transport.FileInfo{}, fmt.Errorf("%s: %w", c.host, err)
	}
	fi := transport.FileInfo{Exists: true, IsDir: st.IsDir(), Mode: unixMode(st.Mode()), Size: st.Size()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		fi.Owner = c.name('u', sys.Uid)
		fi.Group = c.name('g', sys.Gid)
	}
	if st.Mode().IsRegular() {
		sum, err := hashFile(path)
		if err != nil {
			return transport.FileInfo{}, fmt.Errorf("%s: %w", c.host, err)
		}
		fi.SHA256 = sum
	}
	return fi, nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// name maps a uid ('u') or gid ('g') to its name, or the number when it has
// none, as ls does.
func (c *Conn) name(kind byte, id uint32) string {
	key := string(kind) + strconv.FormatUint(uint64(id), 10)
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.names[key]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(id), 10)
	if kind == 'u' {
		if u, err := user.LookupId(n); err == nil {
			n = u.Username
		}
	} else if g, err := user.LookupGroupId(n); err == nil {
		n = g.Name
	}
	c.names[key] = n
	return n
}

// unixMode turns Go's mode into Unix numeric bits.
func unixMode(m fs.FileMode) fs.FileMode {
	u := m.Perm()
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// goMode turns Unix numeric bits into Go's mode, for os.Chmod.
func goMode(u fs.FileMode) fs.FileMode {
	m := u & 0o777
	if u&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// ReadFile returns a file's content; see transport.Conn.ReadFile.
func (c *Conn) ReadFile(ctx context.Context, path string, opt transport.Options) ([]byte, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("%s: %w", c.host, ErrClosed)
	}
	var (
		b   []byte
		err error
	)
	if c.sudoUser(opt) != "" {
		b, err = posix.ReadFile(ctx, c.Run, path, opt)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.host, err)
	}
	return b, nil
}

// WriteFile writes f atomically; see transport.Conn.WriteFile. The temporary
// file is created with the final permission bits (narrowed by the umask,
// never wider), so a 0600 key is never readable by others, even briefly.
func (c *Conn) WriteFile(ctx context.Context, f transport.File) error {
	if c.closed.Load() {
		return fmt.Errorf("%s: %w", c.host, ErrClosed)
	}
	var err error
	if c.sudoUser(f.Options) != "" {
		err = posix.WriteFile(ctx, c.Run, f)
	} else {
		err = c.writeFile(f)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", c.host, err)
	}
	return nil
}

func (c *Conn) writeFile(f transport.File) (err error) {
	mode := f.Mode & 0o7777
	uid, gid := -1, -1
	cur, statErr := os.Stat(f.Path)
	switch {
	case statErr == nil && cur.IsDir():
		return fmt.Errorf("write %s: is a directory", f.Path)
	case statErr == nil:
		if mode == 0 {
			mode = unixMode(cur.Mode())
		}
		// Replacing a file keeps its owner unless told otherwise.
		if sys, ok := cur.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	case errors.Is(statErr, fs.ErrNotExist):
		if mode == 0 {
			mode = 0o644
		}
	default:
		return statErr
	}
	keepOwner := uid >= 0
	if f.Owner != "" {
		if uid, err = lookupUser(f.Owner); err != nil {
			return err
		}
	}
	if f.Group != "" {
		if gid, err = lookupGroup(f.Group); err != nil {
			return err
		}
	}

	dir, base := filepath.Split(f.Path)
	if dir == "" {
		dir = "."
	}
	tmp, err := createTemp(dir, base, mode&0o777)
	if err != nil {
		return err
	}
	if afterCreate != nil {
		afterCreate(tmp)
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err = tmp.Write(f.Content); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if uid >= 0 || gid >= 0 {
		if err = tmp.Chown(uid, gid); err != nil {
			explicit := f.Owner != "" || f.Group != ""
			if explicit || !keepOwner || !errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("chown %s: %w", f.Path, err)
			}
			// Unprivileged and replacing someone else's file: the new file
			// is ours, as with cp. Not worth failing the task over.
			err = nil
		}
	}
	// Chmod after chown (chown clears setuid/setgid) and past the umask.
	if err = tmp.Chmod(goMode(mode)); err != nil {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err = os.Rename(name, f.Path); err != nil {
		return err
	}
	// The rename is durable only once the directory is synced.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// afterCreate, when a test sets it, sees each temporary file right after its
// creation, before any content: how the tests prove a key file is never
// readable by anyone its final mode excludes.
var afterCreate func(f *os.File)

// createTemp creates a new file next to the target with the given
// permissions from the start (os.CreateTemp would use 0600 and a later chmod).
func createTemp(dir, base string, perm fs.FileMode) (*os.File, error) {
	for range 100 {
		var rnd [6]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, err
		}
		name := filepath.Join(dir, "."+base+".kplay-"+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("create a temporary file in %s: too many collisions", dir)
}

func lookupUser(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("owner %q: %w", name, err)
	}
	return strconv.Atoi(u.Uid)
}

func lookupGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("group %q: %w", name, err)
	}
	return strconv.Atoi(g.Gid)
}
