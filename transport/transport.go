// Package transport says how kplay reaches a host: run a command, read a file,
// write a file. What to do there is the modules' business; the local and ssh
// subpackages implement Conn.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
)

// Conn is one open connection to one host, reused by every task of a run.
// All methods must be safe for concurrent use: handlers and loops may call a
// Conn from several goroutines.
type Conn interface {
	// Run runs Command.Cmd through the host's `sh -c` and waits for it. A
	// non-zero exit is not an error: it is Result.RC. An error means the
	// command could not be run or its outcome is unknown (the connection died,
	// the context ended); a dead connection is reported as *UnreachableError.
	Run(ctx context.Context, c Command) (Result, error)
	// Stat describes a path on the host, following symlinks. A missing path is
	// FileInfo{Exists: false} and no error. SHA256 is filled for regular files.
	Stat(ctx context.Context, path string, opt Options) (FileInfo, error)
	// ReadFile returns a file's content; a missing file gives an error that
	// matches fs.ErrNotExist.
	ReadFile(ctx context.Context, path string, opt Options) ([]byte, error)
	// WriteFile writes content atomically: a temporary file in the target's
	// directory created with the final mode (and owner), then renamed over the
	// target. A failure leaves the target as it was and no temporary file.
	WriteFile(ctx context.Context, f File) error
	// Close ends the connection. Further calls fail.
	Close() error
}

// Options are per-call privileges.
type Options struct {
	Become     bool   // run as BecomeUser through `sudo -n`
	BecomeUser string // default root
}

// Command is one command to run on a host.
type Command struct {
	Cmd   string            // passed to `sh -c`
	Dir   string            // working directory; "" is the login directory
	Env   map[string]string // extra environment variables
	Stdin []byte            // fed to the command's standard input
	Options
}

// Result is a finished command.
type Result struct {
	RC     int
	Stdout []byte
	Stderr []byte
}

// FileInfo describes a path on a host.
type FileInfo struct {
	Exists bool
	IsDir  bool
	Mode   fs.FileMode // permission bits only
	Owner  string
	Group  string
	Size   int64
	SHA256 string // hex, regular files only
}

// File is a file to write.
type File struct {
	Path    string
	Content []byte
	Mode    fs.FileMode // 0 keeps an existing file's mode, else 0644
	Owner   string      // "" keeps the current owner (or the connecting user's)
	Group   string
	Options
	// Known, when set, is Path as the caller's Stat (or StatTarget) has
	// just described it: WriteFile may use it instead of describing the
	// target again, which saves a round trip per file. Leave it nil unless
	// the description was taken for this very write.
	Known *FileInfo
}

// Target is where a file write lands, as TargetStater describes it.
type Target struct {
	// Path is the file: dest itself, or dest/base when dest ends in "/" or
	// is an existing directory (and a base was given).
	Path string
	// Info is Path as Stat describes it.
	Info FileInfo
	// Missing lists, outermost first, the directories above Path that do
	// not exist yet. Empty when Info.Exists.
	Missing []string
	// Bad, when not empty, says why the directories above Path cannot hold
	// it: one exists but is no directory.
	Bad string
}

// TargetStater is implemented by connections that describe a file write's
// target in one round trip instead of one Stat per path (copy and template
// resolve dest, stat it and look for missing parents). Callers fall back on
// Stat when a Conn does not implement it.
type TargetStater interface {
	// StatTarget resolves dest: a dest ending in "/", or naming an existing
	// directory when base is not empty, means dest/base. It describes the
	// result like Stat (following symlinks; a dangling symlink is missing)
	// and the directories above it, as Target says.
	StatTarget(ctx context.Context, dest, base string, opt Options) (Target, error)
}

// UnreachableError says a host could not be reached or its connection died.
// The engine reports such a host as unreachable and drops it from later tasks.
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s: unreachable: %v", e.Host, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// IsUnreachable reports whether err says the host cannot be reached.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}

// Dialer opens connections. The engine holds one Dialer and opens at most one
// Conn per host for a whole run.
type Dialer interface {
	Dial(ctx context.Context, h HostSpec) (Conn, error)
}

// HostSpec is what the inventory says about reaching a host.
type HostSpec struct {
	Name       string // inventory_hostname
	Connection string // "ssh" (default) or "local"
	Address    string // ansible_host, default Name
	Port       int    // ansible_port, default 22
	User       string // ansible_user
	KeyFile    string // ansible_ssh_private_key_file
	// Vars holds every other host variable, for transport-specific settings
	// (known_hosts file, accept-new, timeouts).
	Vars map[string]any
}

// HostDialer is implemented by connections that can open a TCP connection
// from the host's side, so that a module can reach an address as the host
// sees it (its own 127.0.0.1, a network only it is on). Over SSH this is a
// direct-tcpip channel, the same as `ssh -L`.
type HostDialer interface {
	DialHost(ctx context.Context, network, address string) (net.Conn, error)
}

// ErrDialForbidden says the host's side refused to open a TCP connection on
// kplay's behalf at all (sshd's AllowTcpForwarding), as opposed to the
// address refusing it.
var ErrDialForbidden = errors.New("the host does not allow TCP connections through it (sshd: AllowTcpForwarding)")
