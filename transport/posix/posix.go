// Package posix implements a connection's file operations (Stat, ReadFile,
// WriteFile) with POSIX shell commands run through the connection itself. It
// serves any transport that can only run commands: ssh, and local when it has
// to become another user through sudo. Every path is quoted with shquote.
//
// The commands need sh, stat(1) with -c (GNU coreutils or busybox),
// sha256sum, mktemp, cat, chmod, chown, mv and sync on the host.
//
// Modes here are Unix numeric bits (0o7777: permissions plus setuid, setgid
// and sticky as 0o4000, 0o2000, 0o1000) held in an fs.FileMode, as the
// modules' Mode arguments are.
package posix

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"kplay/transport"
	"kplay/transport/shquote"
)

// Runner runs one command on the host, like transport.Conn.Run.
type Runner func(ctx context.Context, c transport.Command) (transport.Result, error)

// rcMissing is the exit code the scripts use for "no such file".
const rcMissing = 3

// arg makes a path safe to pass as an operand: quoted, and never starting
// with '-' where a command would take it for an option.
func arg(p string) string {
	if strings.HasPrefix(p, "-") {
		p = "./" + p
	}
	return shquote.Quote(p)
}

// Stat describes p, following symlinks; see transport.Conn.Stat.
func Stat(ctx context.Context, run Runner, p string, opt transport.Options) (transport.FileInfo, error) {
	script := fmt.Sprintf(`p=%s
[ -e "$p" ] || { echo absent; exit 0; }
stat -L -c '%%f %%U %%G %%s' "$p" || exit 1
if [ -f "$p" ]; then sha256sum < "$p" || exit 1; fi`, arg(p))
	res, err := run(ctx, transport.Command{Cmd: script, Options: opt})
	if err != nil {
		return transport.FileInfo{}, err
	}
	if res.RC != 0 {
		return transport.FileInfo{}, fmt.Errorf("stat %s: rc %d: %s", p, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	return parseStat(p, string(res.Stdout))
}

func parseStat(p, out string) (transport.FileInfo, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] == "absent" {
		return transport.FileInfo{}, nil
	}
	f := strings.Fields(lines[0])
	if len(f) != 4 {
		return transport.FileInfo{}, fmt.Errorf("stat %s: unexpected output %q", p, out)
	}
	raw, err1 := strconv.ParseUint(f[0], 16, 32)
	size, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return transport.FileInfo{}, fmt.Errorf("stat %s: unexpected output %q", p, out)
	}
	fi := transport.FileInfo{
		Exists: true,
		IsDir:  raw&0o170000 == 0o040000,
		Mode:   fs.FileMode(raw & 0o7777),
		Owner:  f[1],
		Group:  f[2],
		Size:   size,
	}
	if raw&0o170000 == 0o100000 {
		if len(lines) < 2 {
			return transport.FileInfo{}, fmt.Errorf("stat %s: no checksum in %q", p, out)
		}
		sum := strings.Fields(lines[1])
		if len(sum) == 0 || len(sum[0]) != 64 {
			return transport.FileInfo{}, fmt.Errorf("stat %s: bad checksum line %q", p, lines[1])
		}
		fi.SHA256 = sum[0]
	}
	return fi, nil
}

// ReadFile returns p's content; a missing file gives an error matching
// fs.ErrNotExist.
func ReadFile(ctx context.Context, run Runner, p string, opt transport.Options) ([]byte, error) {
	script := fmt.Sprintf(`p=%s
[ -e "$p" ] || exit %d
exec cat "$p"`, arg(p), rcMissing)
	res, err := run(ctx, transport.Command{Cmd: script, Options: opt})
	if err != nil {
		return nil, err
	}
	switch res.RC {
	case 0:
		return res.Stdout, nil
	case rcMissing:
		return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
	}
	return nil, fmt.Errorf("read %s: rc %d: %s", p, res.RC, strings.TrimSpace(string(res.Stderr)))
}

// WriteFile writes f atomically: the content goes to a temporary file in the
// target's directory that only its owner can read (mktemp's 0600), gets its
// owner and final mode, is synced, then renamed over the target. On failure
// the temporary file is removed and the target is untouched.
func WriteFile(ctx context.Context, run Runner, f transport.File) error {
	var cur transport.FileInfo
	if f.Known != nil {
		cur = *f.Known
	} else {
		var err error
		if cur, err = Stat(ctx, run, f.Path, f.Options); err != nil {
			return err
		}
	}
	if cur.IsDir {
		return fmt.Errorf("write %s: is a directory", f.Path)
	}
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
		if cur.Exists {
			mode = cur.Mode
		}
	}
	owner, group := f.Owner, f.Group
	if cur.Exists {
		// Replacing a file keeps its owner unless told otherwise.
		if owner == "" {
			owner = cur.Owner
		}
		if group == "" {
			group = cur.Group
		}
	}
	dir, base := path.Split(f.Path)
	if dir == "" {
		dir = "./"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "set -e\numask 077\nt=$(mktemp %s)\n", arg(dir+"."+base+".kplay-XXXXXX"))
	b.WriteString("trap 'rm -f \"$t\"' EXIT\ncat > \"$t\"\n")
	if owner != "" || group != "" {
		spec := owner
		if group != "" {
			spec += ":" + group
		}
		// A chown to the user we already are is a no-op even unprivileged;
		// any other is an error worth reporting.
		fmt.Fprintf(&b, "chown %s \"$t\"\n", shquote.Quote(spec))
	}
	// chmod after chown: chown clears setuid and setgid bits.
	fmt.Fprintf(&b, "chmod %04o \"$t\"\n", uint32(mode&0o7777))
	b.WriteString("sync \"$t\" 2>/dev/null || true\n")
	fmt.Fprintf(&b, "mv -f \"$t\" %s\ntrap - EXIT\n", arg(f.Path))
	fmt.Fprintf(&b, "sync %s 2>/dev/null || true\n", arg(dir))
	res, err := run(ctx, transport.Command{Cmd: b.String(), Stdin: f.Content, Options: f.Options})
	if err != nil {
		return err
	}
	if res.RC != 0 {
		return fmt.Errorf("write %s: rc %d: %s", f.Path, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}
