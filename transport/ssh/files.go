package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"kplay/transport"
)

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// statScript prints `ls -ldL` of the path and, for a regular file, its
// SHA-256, with tools every Linux (and the BSDs) has; "missing" when the
// path does not exist.
func statScript(p string) string {
	return `p=` + Quote(p) + `
if [ ! -e "$p" ]; then
  if [ -L "$p" ]; then echo "kplay: dangling symlink" >&2; exit 1; fi
  echo missing; exit 0
fi
LC_ALL=C ls -ldL -- "$p" || exit 1
if [ -f "$p" ]; then
  if command -v sha256sum >/dev/null 2>&1; then sha256sum <"$p"
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 <"$p"
  else openssl dgst -sha256 -r <"$p"; fi || exit 1
fi`
}

// Stat describes path on the host, following symlinks.
func (c *conn) Stat(ctx context.Context, p string, opt transport.Options) (transport.FileInfo, error) {
	res, err := c.runScript(ctx, "stat "+p, c.become(statScript(p), opt), nil)
	if err != nil {
		return transport.FileInfo{}, err
	}
	if err := c.sudoRefused(opt, res); err != nil {
		return transport.FileInfo{}, err
	}
	if res.RC != 0 {
		return transport.FileInfo{}, fmt.Errorf("%s: stat %s: rc %d: %s", c.name, p, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	fi, err := parseStat(string(res.Stdout))
	if err != nil {
		return transport.FileInfo{}, fmt.Errorf("%s: stat %s: %w", c.name, p, err)
	}
	return fi, nil
}

// parseStat reads statScript's output.
func parseStat(out string) (transport.FileInfo, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "missing" {
		return transport.FileInfo{}, nil
	}
	fi, err := parseLsLine(lines[0])
	if err != nil {
		return fi, err
	}
	if !fi.IsDir && len(lines) > 1 {
		sum, _, _ := strings.Cut(lines[1], " ")
		if len(sum) != 64 {
			return fi, fmt.Errorf("bad checksum line %q", lines[1])
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return fi, fmt.Errorf("bad checksum line %q", lines[1])
		}
		fi.SHA256 = strings.ToLower(sum)
	}
	return fi, nil
}

// parseLsLine reads one line of `ls -ld` output: mode, links, owner,
// group, size. Names with spaces do not occur in passwd, so fields split.
func parseLsLine(line string) (transport.FileInfo, error) {
	f := strings.Fields(line)
	if len(f) < 5 || len(f[0]) < 10 {
		return transport.FileInfo{}, fmt.Errorf("cannot read ls output %q", line)
	}
	perm := f[0]
	fi := transport.FileInfo{Exists: true, IsDir: perm[0] == 'd', Owner: f[2], Group: f[3]}
	// Modes are numeric Unix bits held in an fs.FileMode (0o7777, with
	// setuid, setgid and sticky as 0o4000, 0o2000, 0o1000), as the modules use them.
	var mode fs.FileMode
	for i, ch := range perm[1:10] {
		bit := fs.FileMode(1) << (8 - i)
		special := fs.FileMode(0)
		if i%3 == 2 {
			special = fs.FileMode(0o4000) >> (i / 3)
		}
		switch {
		case ch == 'r' && i%3 == 0, ch == 'w' && i%3 == 1, ch == 'x' && i%3 == 2:
			mode |= bit
		case (ch == 's' && i < 6) || (ch == 't' && i == 8):
			mode |= bit | special
		case (ch == 'S' && i < 6) || (ch == 'T' && i == 8):
			mode |= special
		case ch == '-':
		default:
			return transport.FileInfo{}, fmt.Errorf("cannot read mode %q in ls output %q", perm, line)
		}
	}
	fi.Mode = mode
	if n, err := strconv.ParseInt(f[4], 10, 64); err == nil && n >= 0 {
		fi.Size = n
	}
	return fi, nil
}

// ReadFile returns a file's content.
func (c *conn) ReadFile(ctx context.Context, p string, opt transport.Options) ([]byte, error) {
	script := `p=` + Quote(p) + `
if [ ! -e "$p" ]; then echo "kplay: no such file" >&2; exit 66; fi
exec cat -- "$p"`
	res, err := c.runScript(ctx, "read "+p, c.become(script, opt), nil)
	if err != nil {
		return nil, err
	}
	if err := c.sudoRefused(opt, res); err != nil {
		return nil, err
	}
	if res.RC == 66 && strings.Contains(string(res.Stderr), "kplay: no such file") {
		return nil, fmt.Errorf("%s: read %s: %w", c.name, p, fs.ErrNotExist)
	}
	if res.RC != 0 {
		return nil, fmt.Errorf("%s: read %s: rc %d: %s", c.name, p, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	return res.Stdout, nil
}

// tempPrefix names temporary files: ".NAME.kplay-RANDOM.tmp" beside the
// target, hidden, unguessable, and easy to find again for cleanup.
const tempPrefix = ".kplay-"

// WriteFile lands f.Content at f.Path unless it is already there.
//
// The content goes to a temporary file in the target's directory, created
// under umask 077 so only its creator can read it, then chown'd and
// chmod'ed to what was asked, then renamed over the target: at no moment can
// anyone read the content who could not read the final file. The script
// checks the size received before renaming, so a connection cut mid-transfer
// (which gives `cat` a clean end of file) never lands a truncated file; a
// trap removes the temporary file, and one left by a killed shell is
// removed by the next write to the same target.
func (c *conn) WriteFile(ctx context.Context, f transport.File) error {
	if f.Path == "" || strings.HasSuffix(f.Path, "/") {
		return fmt.Errorf("%s: write %q: not a file path", c.name, f.Path)
	}
	st, err := c.Stat(ctx, f.Path, f.Options)
	if err != nil {
		return err
	}
	if st.IsDir {
		return fmt.Errorf("%s: write %s: is a directory", c.name, f.Path)
	}
	mode := f.Mode & 0o7777
	if f.Mode == 0 {
		mode = 0o644
		if st.Exists {
			mode = st.Mode
		}
	}
	sum := sha256.Sum256(f.Content)
	if st.Exists && st.SHA256 == hex.EncodeToString(sum[:]) {
		return c.fixAttrs(ctx, f, st, mode)
	}

	// chown below clears setuid and setgid, so chmod comes after it.
	// Keep an existing file's owner when none is asked for, as an in-place
	// write would; that can only fail for a non-root login, which then gets
	// its own ownership, like Ansible.
	owner, group, strict := f.Owner, f.Group, true
	if owner == "" && group == "" && st.Exists {
		owner, group, strict = st.Owner, st.Group, false
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	dir, base := path.Split(f.Path)
	if dir == "" {
		dir = "./"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "d=%s; b=%s\n", Quote(dir), Quote(base))
	fmt.Fprintf(&b, "t=\"$d.$b%s%s.tmp\"\n", tempPrefix, hex.EncodeToString(rnd[:]))
	b.WriteString(`rm -f -- "$d.$b` + tempPrefix + `"*.tmp
trap 'rm -f -- "$t"' EXIT
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM
umask 077
set -C
: >"$t" || exit 1
set +C
`)
	// Small text (the usual config file, template, certificate) travels
	// inside the script as a quoted here-document, through the command
	// loop; anything else comes on a session's standard input.
	inline, delim := inlineable(f.Content)
	switch {
	case len(f.Content) == 0:
	case inline:
		fmt.Fprintf(&b, "cat >>\"$t\" <<'%s' || exit 1\n%s%s\n", delim, f.Content, delim)
	default:
		b.WriteString("cat >>\"$t\" || exit 1\n")
	}
	fmt.Fprintf(&b, "n=$(wc -c <\"$t\") || exit 1\n[ \"$n\" -eq %d ] || { echo \"kplay: received $n of %d bytes\" >&2; exit 1; }\n", len(f.Content), len(f.Content))
	if own := chownSpec(owner, group); own != "" {
		if strict {
			fmt.Fprintf(&b, "chown -- %s \"$t\" || exit 1\n", Quote(own))
		} else {
			fmt.Fprintf(&b, "chown -- %s \"$t\" 2>/dev/null\n", Quote(own))
		}
	}
	fmt.Fprintf(&b, "chmod %04o \"$t\" || exit 1\n", mode)
	b.WriteString(`mv -f -- "$t" "$d$b" || exit 1
trap - EXIT
`)
	var res transport.Result
	if inline || len(f.Content) == 0 {
		res, err = c.runScript(ctx, "write "+f.Path, c.become(b.String(), f.Options), nil)
	} else {
		res, err = c.runSession(ctx, "write "+f.Path, c.become(b.String(), f.Options), f.Content)
	}
	if err != nil {
		return err
	}
	if err := c.sudoRefused(f.Options, res); err != nil {
		return err
	}
	if res.RC != 0 {
		return fmt.Errorf("%s: write %s: rc %d: %s", c.name, f.Path, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

// maxInline is the largest content sent inside a script: the loop reads
// scripts line by line, which is fast for a config file, not for megabytes.
const maxInline = 64 << 10

// inlineable says whether content can travel as a quoted here-document, and
// with which end marker. A here-document carries any bytes but NUL, and ends
// each of its lines (so the content must end with a newline) until the
// marker line, which must not occur in the content.
func inlineable(content []byte) (bool, string) {
	if len(content) == 0 || len(content) > maxInline || content[len(content)-1] != '\n' || bytes.IndexByte(content, 0) >= 0 {
		return false, ""
	}
	delim := "KPLAY_EOF_" + strings.TrimPrefix(newToken(), "kplay-")
	if bytes.Contains(content, []byte(delim)) {
		return false, ""
	}
	return true, delim
}

// fixAttrs sets mode and owner on a file whose content is already right.
func (c *conn) fixAttrs(ctx context.Context, f transport.File, st transport.FileInfo, mode fs.FileMode) error {
	var b strings.Builder
	if (f.Owner != "" && f.Owner != st.Owner) || (f.Group != "" && f.Group != st.Group) {
		fmt.Fprintf(&b, "chown -- %s %s || exit 1\n", Quote(chownSpec(f.Owner, f.Group)), Quote(f.Path))
	}
	if mode != st.Mode {
		fmt.Fprintf(&b, "chmod %04o %s || exit 1\n", mode, Quote(f.Path))
	}
	if b.Len() == 0 {
		return nil
	}
	res, err := c.runScript(ctx, "chmod/chown "+f.Path, c.become(b.String(), f.Options), nil)
	if err != nil {
		return err
	}
	if err := c.sudoRefused(f.Options, res); err != nil {
		return err
	}
	if res.RC != 0 {
		return fmt.Errorf("%s: set owner and mode of %s: rc %d: %s", c.name, f.Path, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

func chownSpec(owner, group string) string {
	switch {
	case owner != "" && group != "":
		return owner + ":" + group
	case group != "":
		return ":" + group
	default:
		return owner
	}
}
