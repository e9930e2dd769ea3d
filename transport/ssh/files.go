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
// path does not exist, also through a dangling symlink (as the local
// connection's os.Stat says). ls -q prints a newline in the name as "?",
// so the listing is always one line.
func statScript(p string) string {
	return `p=` + Quote(p) + "\n" + statBody
}

// statBody is statScript after it sets $p.
const statBody = `if [ ! -e "$p" ]; then echo missing; exit 0; fi
LC_ALL=C ls -ldLq -- "$p" || exit 1
if [ -f "$p" ]; then
  if command -v sha256sum >/dev/null 2>&1; then sha256sum <"$p"
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 <"$p"
  else openssl dgst -sha256 -r <"$p"; fi || exit 1
fi`

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
	var st transport.FileInfo
	if f.Known != nil {
		st = *f.Known
	} else {
		var err error
		if st, err = c.Stat(ctx, f.Path, f.Options); err != nil {
			return err
		}
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

	// chown clears setuid and setgid, so chmod comes after it.
	// Keep an existing file's owner when none is asked for, as an in-place
	// write would; that can only fail for a non-root login, which then gets
	// its own ownership, like Ansible.
	// Who owns the new file: the owner and group asked for; else, replacing
	// a file, its current ones (best effort: only root can give a file
	// away, and a non-root login then gets its own, as with Ansible); else
	// the login user's.
	owner, group := f.Owner, f.Group
	var ownedAlready string // shell test: no chown needed
	switch {
	case owner != "" || group != "":
	case st.Exists:
		owner, group = st.Owner, st.Group
		ownedAlready = `[ -O "$d$b" ] && [ -G "$d$b" ]`
	default:
		ownedAlready = "true"
	}
	inline := len(f.Content) <= maxInline
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	dir, base := path.Split(f.Path)
	if dir == "" {
		dir = "./"
	}
	// The script runs a handful of builtins and one mv when kplay's login
	// already owns the file: every exec is a fork and an exec on the host.
	var b strings.Builder
	fmt.Fprintf(&b, "d=%s; b=%s\n", Quote(dir), Quote(base))
	fmt.Fprintf(&b, "t=\"$d.$b%s%s.tmp\"\n", tempPrefix, hex.EncodeToString(rnd[:]))
	// Temporary files of a write killed mid-way (its shell killed with it,
	// so its trap never ran).
	b.WriteString(`for o in "$d.$b` + tempPrefix + `"*.tmp; do [ -e "$o" ] && rm -f -- "$o"; done
trap 'rm -f -- "$t"' EXIT
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM
`)
	// Without a chown, the file is created with its final permissions
	// (setuid and execute bits come with chmod, after the content). With a
	// chown, it is created readable by its creator only, and gets its
	// owner and then its mode before it is renamed into place. Either way
	// no one can read the content who cannot read the final file.
	createMask := fmt.Sprintf("%04o", 0o777&^(mode&0o666))
	if ownedAlready == "" {
		createMask = "0077"
	} else if ownedAlready != "true" {
		fmt.Fprintf(&b, "if %s; then umask %s; else umask 0077; fi\n", ownedAlready, createMask)
		createMask = ""
	}
	if createMask != "" {
		fmt.Fprintf(&b, "umask %s\n", createMask)
	}
	b.WriteString("set -C\n: >\"$t\" || exit 1\nset +C\n")
	// Small content travels inside the script, through the command loop,
	// written by printf (a builtin); the loop reads scripts a byte at a time,
	// so larger content comes on a session's standard input instead, its
	// size checked: a connection cut mid-transfer ends cat's input cleanly.
	switch {
	case len(f.Content) == 0:
	case inline:
		b.WriteString("{\n")
		for i, part := range bytes.Split(f.Content, []byte{0}) {
			if i > 0 {
				b.WriteString("printf '\\000'\n")
			}
			if len(part) > 0 {
				fmt.Fprintf(&b, "printf %%s %s\n", Quote(string(part)))
			}
		}
		b.WriteString("} >>\"$t\" || exit 1\n")
	default:
		b.WriteString("cat >>\"$t\" || exit 1\n")
		fmt.Fprintf(&b, "n=$(wc -c <\"$t\") || exit 1\n[ \"$n\" -eq %d ] || { echo \"kplay: received $n of %d bytes\" >&2; exit 1; }\n", len(f.Content), len(f.Content))
	}
	chmod := fmt.Sprintf("chmod %04o \"$t\" || exit 1\n", mode)
	own := Quote(chownSpec(owner, group))
	switch ownedAlready {
	case "":
		fmt.Fprintf(&b, "chown -- %s \"$t\" || exit 1\n%s", own, chmod)
	case "true":
		if mode&^0o666 != 0 {
			b.WriteString(chmod)
		}
	default:
		fmt.Fprintf(&b, "if %s; then :; else chown -- %s \"$t\" 2>/dev/null; fi\n", ownedAlready, own)
		if mode&^0o666 != 0 {
			b.WriteString(chmod)
		} else {
			fmt.Fprintf(&b, "%s || %s", ownedAlready, chmod)
		}
	}
	b.WriteString(`mv -f -- "$t" "$d$b" || exit 1
trap - EXIT
`)
	var res transport.Result
	var err error
	if inline {
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

// maxInline is the largest content sent inside a script. The loop reads a
// script a byte at a time (the shell's read must not read past a newline),
// about a microsecond a byte: up to a few KiB that is cheaper than a new
// session with cat and wc.
const maxInline = 4 << 10

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

// parents lists the directories above p, innermost first, as the modules
// walk them: up to, not including, "/" or ".".
func parents(p string) []string {
	var dirs []string
	for dir := path.Dir(path.Clean(p)); dir != "/" && dir != "."; dir = path.Dir(dir) {
		dirs = append(dirs, dir)
	}
	return dirs
}

// targetScript is StatTarget's one round trip. It prints "into" or "file"
// (whether dest/base was chosen), one line per directory above the chosen
// path walked from the inside ("missing I" for each missing one, a
// dangling symlink included as Stat says, and "notdir I" for an existing
// one that is no directory, I its index in the list the
// script was given), then "stat" and statScript's output for the path.
// Directories are tested with shell builtins, so only an existing file
// costs an ls and a sha256sum, as Stat does. No user text is printed
// before the ls line, so a name with a newline cannot shift the parsing.
func targetScript(dest, joined string, intoByName bool) string {
	var b strings.Builder
	setParents := func(p string) string {
		s := "set --"
		for _, d := range parents(p) {
			s += " " + Quote(d)
		}
		return s
	}
	switch {
	case intoByName:
		fmt.Fprintf(&b, "p=%s; echo into; %s\n", Quote(joined), setParents(joined))
	case joined == "":
		fmt.Fprintf(&b, "p=%s; echo file; %s\n", Quote(dest), setParents(dest))
	default:
		fmt.Fprintf(&b, "d=%s\n", Quote(dest))
		fmt.Fprintf(&b, "if [ -d \"$d\" ]; then p=%s; echo into; %s\nelse p=\"$d\"; echo file; %s\nfi\n", Quote(joined), setParents(joined), setParents(dest))
	}
	b.WriteString(`if [ ! -e "$p" ]; then
  i=0
  for q do
    if [ -e "$q" ]; then [ -d "$q" ] || echo "notdir $i"; break; fi
    echo "missing $i"
    i=$((i + 1))
  done
fi
echo stat
`)
	b.WriteString(statBody)
	return b.String()
}

// StatTarget describes where a write to dest lands in one round trip; see
// transport.TargetStater.
func (c *conn) StatTarget(ctx context.Context, dest, base string, opt transport.Options) (transport.Target, error) {
	joined := ""
	if base != "" {
		joined = path.Join(dest, base)
	}
	intoByName := base != "" && strings.HasSuffix(dest, "/")
	res, err := c.runScript(ctx, "stat "+dest, c.become(targetScript(dest, joined, intoByName), opt), nil)
	if err != nil {
		return transport.Target{}, err
	}
	if err := c.sudoRefused(opt, res); err != nil {
		return transport.Target{}, err
	}
	if res.RC != 0 {
		return transport.Target{}, fmt.Errorf("%s: stat %s: rc %d: %s", c.name, dest, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	t, err := parseTarget(string(res.Stdout), dest, joined)
	if err != nil {
		return transport.Target{}, fmt.Errorf("%s: stat %s: %w", c.name, dest, err)
	}
	return t, nil
}

// parseTarget reads targetScript's output.
func parseTarget(out, dest, joined string) (transport.Target, error) {
	head, statOut, ok := strings.Cut(out, "\nstat\n")
	if !ok {
		return transport.Target{}, fmt.Errorf("cannot read the target's description %q", out)
	}
	lines := strings.Split(head, "\n")
	var t transport.Target
	switch lines[0] {
	case "into":
		t.Path = joined
	case "file":
		t.Path = dest
	default:
		return transport.Target{}, fmt.Errorf("cannot read the target's description %q", out)
	}
	dirs := parents(t.Path)
	for _, l := range lines[1:] {
		what, idx, _ := strings.Cut(l, " ")
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= len(dirs) {
			return transport.Target{}, fmt.Errorf("cannot read the target's description %q", out)
		}
		switch what {
		case "missing":
			t.Missing = append([]string{dirs[i]}, t.Missing...)
		case "notdir":
			t.Bad = fmt.Sprintf("%s: parent %s is not a directory", t.Path, dirs[i])
		default:
			return transport.Target{}, fmt.Errorf("cannot read the target's description %q", out)
		}
	}
	fi, err := parseStat(statOut)
	if err != nil {
		return transport.Target{}, err
	}
	t.Info = fi
	if fi.Exists && (len(t.Missing) > 0 || t.Bad != "") {
		return transport.Target{}, fmt.Errorf("cannot read the target's description %q", out)
	}
	return t, nil
}
