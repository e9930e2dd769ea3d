// Package fileop is the one path by which modules that write files (copy,
// template, and later ones) compare, diff and write them: the host's sha256
// is compared first and an identical file is left alone; a write is atomic
// (transport.Conn.WriteFile) with the mode, owner and group asked for; the
// plan carries a modules.Diff, marked Secret for key-like files.
package fileop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"kplay/modules"
	"kplay/transport"
	"kplay/transport/shquote"
)

// Want is the file a task wants on its host.
type Want struct {
	Path    string
	Content []byte
	Mode    fs.FileMode // Unix bits; 0 keeps an existing file's mode, 0644 for a new one
	Owner   string      // "" keeps the current owner
	Group   string
	Backup  bool // keep a timestamped copy of a file whose content changes
	// Force false leaves an existing file alone, whatever its content.
	Force bool
	// DirMode is the mode of parent directories created on the way; 0 is 0755.
	DirMode fs.FileMode
	// Src is where the content came from, for the registered result.
	Src string
}

// maxDiff bounds the text a Diff carries; bigger files show a summary.
const maxDiff = 256 << 10

// Sum is the hex sha256 of b, as transport.FileInfo.SHA256.
func Sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Plan reads the host and says what writing w would change; its Apply does
// it. A file already as wanted gives an unchanged plan with no Apply.
func Plan(ctx context.Context, c *modules.Call, w Want) (*modules.Plan, error) {
	t, err := locate(ctx, c, w.Path, "")
	if err != nil {
		return nil, err
	}
	return PlanAt(ctx, c, w, t)
}

// PlanTo is Plan for copy and template: dest is resolved as Dest says (into
// a directory under src's base name) and described, with the directories
// above it, in one round trip where the connection allows
// (transport.TargetStater); w.Path is ignored.
func PlanTo(ctx context.Context, c *modules.Call, dest, src string, w Want) (*modules.Plan, error) {
	base := ""
	if src != "" {
		base = filepath.Base(src)
	} else if strings.HasSuffix(dest, "/") {
		return nil, fmt.Errorf("dest %s is a directory; with content, dest must name a file", dest)
	}
	t, err := locate(ctx, c, dest, base)
	if err != nil {
		return nil, err
	}
	if base == "" && t.Info.IsDir {
		return nil, fmt.Errorf("dest %s is a directory; with content, dest must name a file", dest)
	}
	w.Path = t.Path
	return PlanAt(ctx, c, w, t)
}

// locate describes where a write to dest lands (dest/base when dest ends in
// "/" or is a directory and base is not empty): with StatTarget's one round
// trip when the connection has it, else with Stat, one path at a time.
func locate(ctx context.Context, c *modules.Call, dest, base string) (transport.Target, error) {
	if ts, ok := c.Conn.(transport.TargetStater); ok {
		t, err := ts.StatTarget(ctx, dest, base, c.Opts)
		if err != nil {
			return t, fmt.Errorf("stat %s: %w", dest, err)
		}
		return t, nil
	}
	t := transport.Target{Path: dest}
	if base != "" {
		p, err := Dest(ctx, c, dest, base)
		if err != nil {
			return t, err
		}
		t.Path = p
	}
	cur, err := c.Conn.Stat(ctx, t.Path, c.Opts)
	if err != nil {
		return t, fmt.Errorf("stat %s: %w", t.Path, err)
	}
	t.Info = cur
	if !cur.Exists {
		// An existing file's parents exist: only a new one's are looked at.
		if t.Missing, err = MissingParents(ctx, c, t.Path); err != nil {
			t.Missing, t.Bad = nil, err.Error()
		}
	}
	return t, nil
}

// PlanAt is Plan for a target already described (t.Path is w.Path).
func PlanAt(ctx context.Context, c *modules.Call, w Want, t transport.Target) (*modules.Plan, error) {
	cur := t.Info
	sum := Sum(w.Content)
	data := map[string]any{
		"dest":     w.Path,
		"checksum": sum,
		"size":     len(w.Content),
	}
	if w.Src != "" {
		data["src"] = w.Src
	}
	if cur.IsDir {
		return &modules.Plan{Failed: true, Msg: fmt.Sprintf("%s is a directory", w.Path), Data: data}, nil
	}
	if cur.Exists && !w.Force {
		fillAttrs(data, cur.Mode, cur.Owner, cur.Group)
		data["checksum"] = cur.SHA256
		data["size"] = cur.Size
		return &modules.Plan{Msg: fmt.Sprintf("%s exists; not replaced (force: false)", w.Path), Data: data}, nil
	}

	if t.Bad != "" {
		return &modules.Plan{Failed: true, Msg: t.Bad, Data: data}, nil
	}
	missing := t.Missing

	mode, owner, group := w.Mode, w.Owner, w.Group
	if cur.Exists {
		if mode == 0 {
			mode = cur.Mode
		}
		if owner == "" {
			owner = cur.Owner
		}
		if group == "" {
			group = cur.Group
		}
	} else if mode == 0 {
		mode = 0o644
	}
	fillAttrs(data, mode, owner, group)

	var what []string
	contentChanged := !cur.Exists || cur.SHA256 != sum
	switch {
	case !cur.Exists:
		what = append(what, "create "+w.Path)
	case contentChanged:
		what = append(what, "content of "+w.Path)
	}
	if cur.Exists && mode != cur.Mode {
		what = append(what, fmt.Sprintf("mode %04o -> %04o", uint32(cur.Mode), uint32(mode)))
	}
	if cur.Exists {
		same, err := SameID(ctx, c, 'u', owner, cur.Owner)
		if err != nil {
			return nil, err
		}
		if !same {
			what = append(what, fmt.Sprintf("owner %s -> %s", cur.Owner, owner))
		}
		if same, err = SameID(ctx, c, 'g', group, cur.Group); err != nil {
			return nil, err
		}
		if !same {
			what = append(what, fmt.Sprintf("group %s -> %s", cur.Group, group))
		}
	}
	if len(what) == 0 {
		return &modules.Plan{Data: data}, nil
	}
	if len(missing) > 0 {
		what = append(what, "create directory "+strings.Join(missing, ", "))
	}

	p := &modules.Plan{Changed: true, Msg: strings.Join(what, "; "), Data: data}
	// Diffs only for --diff: the old content is fetched from the host for it.
	if contentChanged && c.Diff {
		d := modules.Diff{Path: w.Path, Secret: c.NoLog || IsSecret(w.Path, mode)}
		if !d.Secret {
			d.After = diffText(w.Content)
			switch {
			case !cur.Exists:
			case cur.Size > maxDiff || !isText(w.Content):
				// Not worth a transfer: the diff shows a summary anyway.
				d.Before = summary(cur.Size, cur.SHA256)
			default:
				before, err := c.Conn.ReadFile(ctx, w.Path, c.Opts)
				if err != nil {
					return nil, fmt.Errorf("read %s for the diff: %w", w.Path, err)
				}
				d.Before = diffText(before)
			}
		}
		p.Diffs = []modules.Diff{d}
	}
	p.Apply = func(ctx context.Context) (*modules.Result, error) {
		res := &modules.Result{Changed: true, Msg: p.Msg, Data: data}
		if err := Mkdirs(ctx, c, missing, w.DirMode); err != nil {
			return nil, err
		}
		if w.Backup && cur.Exists && contentChanged {
			b, err := Backup(ctx, c, w.Path)
			if err != nil {
				return nil, err
			}
			data["backup_file"] = b
		}
		f := transport.File{
			Path: w.Path, Content: w.Content, Mode: mode, Owner: w.Owner, Group: w.Group, Options: c.Opts,
		}
		// The target as Plan just described it saves WriteFile its own
		// round trip; the mkdir and the backup above leave it as it was.
		f.Known = &cur
		err := c.Conn.WriteFile(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", w.Path, err)
		}
		return res, nil
	}
	return p, nil
}

func fillAttrs(data map[string]any, mode fs.FileMode, owner, group string) {
	data["mode"] = fmt.Sprintf("%04o", uint32(mode))
	if owner != "" {
		data["owner"] = owner
	}
	if group != "" {
		data["group"] = group
	}
}

// diffText is a file's content for a Diff: the text itself, or a one-line
// summary for binary or very large content.
func diffText(b []byte) string {
	if len(b) > maxDiff || !isText(b) {
		return summary(int64(len(b)), Sum(b))
	}
	return string(b)
}

func isText(b []byte) bool { return utf8.Valid(b) && !strings.ContainsRune(string(b), 0) }

func summary(size int64, sum string) string {
	return fmt.Sprintf("(binary or large: %d bytes, sha256 %s)\n", size, sum)
}

// IsSecret reports whether a file's content should stay out of diffs and
// logs: private keys and anything only its owner may read.
func IsSecret(p string, mode fs.FileMode) bool {
	if mode != 0 && mode&0o077 == 0 {
		return true
	}
	base := strings.ToLower(path.Base(p))
	switch {
	case strings.HasSuffix(base, ".key"), strings.HasSuffix(base, ".p12"), strings.HasSuffix(base, ".pfx"):
		return true
	case strings.Contains(base, "key") && strings.HasSuffix(base, ".pem"):
		return true
	case strings.HasPrefix(base, "id_") && !strings.HasSuffix(base, ".pub"):
		return true
	case strings.Contains(base, "secret"), strings.Contains(base, "password"), strings.Contains(base, "token"):
		return true
	}
	return false
}

// MissingParents lists, outermost first, the directories above p that do not
// exist on the host. A parent that exists but is not a directory is an error.
func MissingParents(ctx context.Context, c *modules.Call, p string) ([]string, error) {
	var missing []string
	for dir := path.Dir(path.Clean(p)); dir != "/" && dir != "."; dir = path.Dir(dir) {
		fi, err := c.Conn.Stat(ctx, dir, c.Opts)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", dir, err)
		}
		if fi.Exists {
			if !fi.IsDir {
				return nil, fmt.Errorf("%s: parent %s is not a directory", p, dir)
			}
			break
		}
		missing = append([]string{dir}, missing...)
	}
	return missing, nil
}

// Mkdirs creates dirs in order (outermost first) with mode (0: 0755). Each
// gets its own mkdir, so the mode applies to every one of them, not only the
// last as with mkdir -p -m.
func Mkdirs(ctx context.Context, c *modules.Call, dirs []string, mode fs.FileMode) error {
	if len(dirs) == 0 {
		return nil
	}
	if mode == 0 {
		mode = 0o755
	}
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, d := range dirs {
		// mkdir -m sets the mode past the umask; a directory that appeared
		// meanwhile (another task) is fine.
		fmt.Fprintf(&b, "[ -d %[1]s ] || mkdir -m %04[2]o %[1]s\n", Arg(d), uint32(mode))
	}
	return RunOK(ctx, c, b.String())
}

// Backup copies p to p.<timestamp>~ next to it, keeping mode, owner and
// times, and returns the copy's path.
func Backup(ctx context.Context, c *modules.Call, p string) (string, error) {
	b := fmt.Sprintf("%s.%s~", p, time.Now().Format("2006-01-02@15:04:05.000000"))
	if err := RunOK(ctx, c, fmt.Sprintf("cp -p %s %s", Arg(p), Arg(b))); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	return b, nil
}

// Arg quotes a path for a shell command line, never letting it start with
// '-' where it would be read as an option.
func Arg(p string) string {
	if strings.HasPrefix(p, "-") {
		p = "./" + p
	}
	return shquote.Quote(p)
}

// RunOK runs a command on the task's host and turns a non-zero rc into an
// error naming the command, its rc and its stderr.
func RunOK(ctx context.Context, c *modules.Call, cmd string) error {
	res, err := c.Conn.Run(ctx, transport.Command{Cmd: cmd, Env: c.Env, Options: c.Opts})
	if err != nil {
		return err
	}
	if res.RC != 0 {
		return fmt.Errorf("%s: rc %d: %s", cmd, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

// FindLocal finds a controller-side file (copy's and template's src): an
// absolute path as is, else under Call.Dir/sub, then under Call.Dir.
func FindLocal(c *modules.Call, sub, src string) (string, error) {
	if filepath.IsAbs(src) {
		return src, nil
	}
	// A relative src names a file of the playbook's: one that climbs out
	// of its directory (a variable holding "../../etc/shadow") is refused.
	// A file elsewhere must be named by an absolute path.
	if !filepath.IsLocal(src) {
		return "", fmt.Errorf("src %q leaves the playbook's directory; name a file outside it by its absolute path", src)
	}
	tried := []string{filepath.Join(c.Dir, sub, src), filepath.Join(c.Dir, src)}
	for _, p := range tried {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("src %q not found (looked in %s)", src, strings.Join(tried, ", "))
}

// ReadLocal reads a controller-side file through Call.Local when there is one.
func ReadLocal(ctx context.Context, c *modules.Call, p string) ([]byte, error) {
	if c.Local != nil {
		fi, err := c.Local.Stat(ctx, p, transport.Options{})
		if err != nil {
			return nil, err
		}
		if fi.IsDir {
			return nil, fmt.Errorf("src %s is a directory; copy one file per task (directory trees are not supported)", p)
		}
		return c.Local.ReadFile(ctx, p, transport.Options{})
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("src %s is a directory; copy one file per task (directory trees are not supported)", p)
	}
	return os.ReadFile(p)
}

// Dest applies Ansible's rule for copy and template: a dest ending in / or
// naming an existing directory receives the file under src's base name.
func Dest(ctx context.Context, c *modules.Call, dest, src string) (string, error) {
	intoDir := strings.HasSuffix(dest, "/")
	if !intoDir {
		fi, err := c.Conn.Stat(ctx, dest, c.Opts)
		if err != nil {
			return "", fmt.Errorf("stat %s: %w", dest, err)
		}
		intoDir = fi.IsDir
	}
	if !intoDir {
		return dest, nil
	}
	if src == "" {
		return "", fmt.Errorf("dest %s is a directory; with content, dest must name a file", dest)
	}
	return path.Join(dest, filepath.Base(src)), nil
}

// SameID reports whether want, a user ('u') or group ('g') as the task
// names it (a name or a numeric id), is have, the name Stat reported. Only
// when one side is numeric does it ask the host to resolve the names.
func SameID(ctx context.Context, c *modules.Call, kind byte, want, have string) (bool, error) {
	if want == "" || want == have {
		return true, nil
	}
	if !numeric(want) && !numeric(have) {
		return false, nil
	}
	w, err := hostID(ctx, c, kind, want)
	if err != nil {
		return false, err
	}
	h, err := hostID(ctx, c, kind, have)
	if err != nil {
		return false, err
	}
	return w != "" && w == h, nil
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// hostID resolves a user or group name to its id on the host; "" when the
// host does not know it (the change then fails with chown's own message).
func hostID(ctx context.Context, c *modules.Call, kind byte, name string) (string, error) {
	if numeric(name) {
		return name, nil
	}
	cmd := "id -u -- " + shquote.Quote(name)
	if kind == 'g' {
		cmd = "getent group -- " + shquote.Quote(name) + " | cut -d: -f3"
	}
	res, err := c.Conn.Run(ctx, transport.Command{Cmd: cmd, Options: c.Opts})
	if err != nil {
		return "", err
	}
	if res.RC != 0 {
		return "", nil
	}
	return strings.TrimSpace(string(res.Stdout)), nil
}
