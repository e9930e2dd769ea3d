// Package file is the file module: make a path a file, a directory, a
// symlink or absent, with a mode, owner and group.
package file

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"kplay/modules"
	"kplay/modules/internal/fileop"
	"kplay/transport"
	"kplay/transport/shquote"
)

func init() { modules.Register(File{}) }

// File is the file module.
type File struct{}

var (
	_ modules.Module      = File{}
	_ modules.ArgsChecker = File{}
)

// Info documents file's arguments, named as Ansible's.
func (File) Info() modules.Info {
	return modules.Info{
		Name:    "file",
		Summary: "Manage a path's kind (file, directory, link, absent), mode, owner and group",
		Doc: `Brings path to state, reading the host first and changing only what differs:
directory creates it (and missing parents); absent removes it (directories
recursively); file only sets attributes of an existing file; touch creates an
empty file or, as in Ansible, updates the times of an existing one (reported
changed unless modification_time and access_time are preserve); link makes a
symbolic link to src. mode, owner and group apply to the path, and to
everything under it with recurse. Without state, an existing path keeps its
kind and a missing one is an error, as in Ansible. Links get owner and group
(chown -h) but no mode: Linux has no mode for a symlink.`,
		CheckMode: "Reads the host and reports what would change, with a before/after diff of the path's state; changes nothing.",
		Returns:   "path, state, mode, owner, group (what was asked), src for links.",
		Args: []modules.Arg{
			{Name: "path", Type: modules.String, Required: true, Aliases: []string{"dest", "name"}, Doc: "The path on the host."},
			{Name: "state", Type: modules.String, Choices: []string{"file", "directory", "absent", "touch", "link"}, Doc: "What path should be. Default: its current kind, or file."},
			{Name: "mode", Type: modules.Mode, Doc: "Mode (0755, \"0644\", \"u=rwx,g=rx,o=rx\")."},
			{Name: "owner", Type: modules.String, Doc: "Owner (name or uid)."},
			{Name: "group", Type: modules.String, Doc: "Group (name or gid)."},
			{Name: "src", Type: modules.String, Doc: "Target of the link (state: link); relative targets are relative to the link's directory."},
			{Name: "recurse", Type: modules.Bool, Default: false, Doc: "With state: directory, apply mode, owner and group to everything under path."},
			{Name: "force", Type: modules.Bool, Default: false, Doc: "With state: link, replace a file or an empty directory at path, and allow a src that does not exist."},
			{Name: "modification_time", Type: modules.String, Choices: []string{"now", "preserve"}, Doc: "touch: now (default for touch) or preserve."},
			{Name: "access_time", Type: modules.String, Choices: []string{"now", "preserve"}, Doc: "touch: now (default for touch) or preserve."},
		},
	}
}

// CheckArgs refuses combinations Ansible refuses.
func (File) CheckArgs(a modules.Args) error {
	state := a.Str("state")
	if state == "link" && a.Str("src") == "" {
		return fmt.Errorf("file: state link needs src")
	}
	if a.Str("src") != "" && state != "link" && state != "" {
		return fmt.Errorf("file: src is only for state link")
	}
	if a.Bool("recurse") && state != "directory" && state != "" {
		return fmt.Errorf("file: recurse needs state directory")
	}
	return nil
}

// current is what the host has at a path, without following a final link.
type current struct {
	kind   string // absent, file, directory, link, other
	target string // link target
	owner  string // of the link itself
	group  string
	fi     transport.FileInfo // following links
}

func probe(ctx context.Context, c *modules.Call, p string) (current, error) {
	script := fmt.Sprintf(`p=%s
if [ -L "$p" ]; then echo link; stat -c '%%U %%G' "$p"; readlink "$p"
elif [ -d "$p" ]; then echo directory
elif [ -f "$p" ]; then echo file
elif [ -e "$p" ]; then echo other
else echo absent; fi`, fileop.Arg(p))
	res, err := c.Conn.Run(ctx, transport.Command{Cmd: script, Options: c.Opts})
	if err != nil {
		return current{}, err
	}
	if res.RC != 0 {
		return current{}, fmt.Errorf("probe %s: rc %d: %s", p, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	out := strings.TrimSuffix(string(res.Stdout), "\n")
	kind, rest, _ := strings.Cut(out, "\n")
	cur := current{kind: kind}
	if kind == "link" {
		ids, target, _ := strings.Cut(rest, "\n")
		cur.target = target
		cur.owner, cur.group, _ = strings.Cut(ids, " ")
	}
	if cur.fi, err = c.Conn.Stat(ctx, p, c.Opts); err != nil {
		return current{}, err
	}
	return cur, nil
}

// step is one change: the words shown to the user and the shell line.
type step struct{ what, sh string }

// Plan reads the path and lists the steps that bring it to state.
func (File) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	a := c.Args
	p := a.Str("path")
	if err := (File{}).CheckArgs(a); err != nil {
		return nil, err
	}
	cur, err := probe(ctx, c, p)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	state := a.Str("state")
	if state == "" {
		switch {
		case a.Bool("recurse"):
			state = "directory"
		case a.Str("src") != "":
			state = "link"
		case cur.kind == "directory" || cur.kind == "link":
			state = cur.kind
		default:
			state = "file"
		}
	}
	mode, hasMode := a.FileMode("mode")
	owner, group := a.Str("owner"), a.Str("group")
	data := map[string]any{"path": p, "state": state}
	if hasMode {
		data["mode"] = fmt.Sprintf("%04o", uint32(mode))
	}
	if owner != "" {
		data["owner"] = owner
	}
	if group != "" {
		data["group"] = group
	}
	fail := func(format string, args ...any) (*modules.Plan, error) {
		return &modules.Plan{Failed: true, Msg: fmt.Sprintf(format, args...), Data: data}, nil
	}
	q := fileop.Arg(p)
	var steps []step
	// exists says whether the path is there before the steps run; attrs
	// then compares its attributes instead of setting them blindly.
	exists := true

	switch state {
	case "absent":
		if path.Clean(p) == "/" || path.Clean(p) == "." {
			return fail("refusing to remove %q", p)
		}
		if cur.kind != "absent" {
			steps = append(steps, step{"remove " + cur.kind + " " + p, "rm -rf " + q})
		}
	case "directory":
		switch {
		case cur.kind == "absent":
			exists = false
			steps = append(steps, step{"create directory " + p, "mkdir -p " + q})
		case cur.fi.IsDir: // a directory, or a link to one (followed, as Ansible)
		default:
			return fail("%s exists and is a %s, not a directory", p, cur.kind)
		}
	case "file":
		switch {
		case cur.kind == "absent":
			return fail("file %s is absent, cannot continue (state: touch creates it)", p)
		case cur.fi.IsDir:
			return fail("%s is a directory, not a file", p)
		}
	case "touch":
		mt, at := a.Str("modification_time"), a.Str("access_time")
		preserve := mt == "preserve" && at == "preserve"
		switch {
		case cur.kind == "absent":
			exists = false
			steps = append(steps, step{"create empty file " + p, "touch " + q})
		case !preserve:
			flag := ""
			switch {
			case mt == "preserve":
				flag = "-a "
			case at == "preserve":
				flag = "-m "
			}
			steps = append(steps, step{"update times of " + p, "touch " + flag + q})
		}
	case "link":
		src := a.Str("src")
		if cur.kind == "link" && cur.target == src {
			break
		}
		srcAt := src
		if !path.IsAbs(src) {
			srcAt = path.Join(path.Dir(p), src)
		}
		sfi, err := c.Conn.Stat(ctx, srcAt, c.Opts)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		if !sfi.Exists && !a.Bool("force") {
			return fail("src %s does not exist (force: true makes the link anyway)", src)
		}
		// The target is stored verbatim: "--" rather than a ./ prefix.
		ln := "ln -s -- " + shquote.Quote(src) + " " + q
		switch cur.kind {
		case "absent":
			steps = append(steps, step{"link " + p + " -> " + src, ln})
		case "link":
			// -n: replace the link itself, not create inside its target.
			steps = append(steps, step{"relink " + p + " -> " + src + " (was " + cur.target + ")", "ln -sfn -- " + shquote.Quote(src) + " " + q})
		case "file", "other":
			if !a.Bool("force") {
				return fail("%s is a %s; refusing to replace it with a link (force: true does)", p, cur.kind)
			}
			steps = append(steps, step{"replace " + cur.kind + " " + p + " with a link to " + src, "rm -f " + q + " && " + ln})
		case "directory":
			if !a.Bool("force") {
				return fail("%s is a directory; refusing to replace it with a link (force: true replaces an empty one)", p)
			}
			steps = append(steps, step{"replace empty directory " + p + " with a link to " + src, "rmdir " + q + " && " + ln})
		}
		// A link's owner: chown -h on the link itself.
		if owner != "" || group != "" {
			sameOwner, err := fileop.SameID(ctx, c, 'u', owner, cur.owner)
			if err != nil {
				return nil, fmt.Errorf("file: %w", err)
			}
			sameGroup, err := fileop.SameID(ctx, c, 'g', group, cur.group)
			if err != nil {
				return nil, fmt.Errorf("file: %w", err)
			}
			if cur.kind != "link" || cur.target != src || !sameOwner || !sameGroup {
				steps = append(steps, step{"owner of link " + p, "chown -h " + chownSpec(owner, group) + " " + q})
			}
		}
	}

	if state != "absent" && state != "link" {
		s, err := attrSteps(ctx, c, p, cur.fi, exists, mode, hasMode, owner, group, a.Bool("recurse"))
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		steps = append(steps, s...)
	}

	if len(steps) == 0 {
		return &modules.Plan{Data: data}, nil
	}
	what := make([]string, len(steps))
	lines := make([]string, len(steps))
	for i, s := range steps {
		what[i], lines[i] = s.what, s.sh
	}
	pl := &modules.Plan{
		Changed: true,
		Msg:     strings.Join(what, "; "),
		Data:    data,
		Diffs:   []modules.Diff{diff(p, cur, state, a, mode, hasMode)},
	}
	script := "set -e\n" + strings.Join(lines, "\n")
	pl.Apply = func(ctx context.Context) (*modules.Result, error) {
		if err := fileop.RunOK(ctx, c, script); err != nil {
			return nil, fmt.Errorf("file %s: %w", p, err)
		}
		return &modules.Result{Changed: true, Msg: pl.Msg, Data: data}, nil
	}
	return pl, nil
}

func chownSpec(owner, group string) string {
	spec := owner
	if group != "" {
		spec += ":" + group
	}
	return fileop.Arg(spec)
}

// attrSteps compares mode, owner and group (everywhere under p with
// recurse) and returns the chown/chmod steps for what differs. On a path
// that does not exist yet every asked attribute is set.
func attrSteps(ctx context.Context, c *modules.Call, p string, fi transport.FileInfo, exists bool,
	mode fs.FileMode, hasMode bool, owner, group string, recurse bool) ([]step, error) {
	if !hasMode && owner == "" && group == "" {
		return nil, nil
	}
	q := fileop.Arg(p)
	r := ""
	if recurse {
		r = "-R "
	}
	sameOwner, err := fileop.SameID(ctx, c, 'u', owner, fi.Owner)
	if err != nil {
		return nil, err
	}
	sameGroup, err := fileop.SameID(ctx, c, 'g', group, fi.Group)
	if err != nil {
		return nil, err
	}
	ownerOff := owner != "" && (!exists || !sameOwner)
	groupOff := group != "" && (!exists || !sameGroup)
	modeOff := hasMode && (!exists || fi.Mode != mode)
	if recurse && exists && fi.IsDir {
		// Anything under p that differs makes the whole tree a change.
		var conds []string
		if owner != "" {
			conds = append(conds, "! -user "+fileop.Arg(owner))
		}
		if group != "" {
			conds = append(conds, "! -group "+fileop.Arg(group))
		}
		if hasMode {
			conds = append(conds, fmt.Sprintf("! -perm %04o", uint32(mode)))
		}
		res, err := c.Conn.Run(ctx, transport.Command{
			Cmd:     "find " + q + " \\( " + strings.Join(conds, " -o ") + " \\) -print -quit",
			Options: c.Opts,
		})
		if err != nil {
			return nil, err
		}
		if res.RC != 0 {
			return nil, fmt.Errorf("find under %s: rc %d: %s", p, res.RC, strings.TrimSpace(string(res.Stderr)))
		}
		if len(strings.TrimSpace(string(res.Stdout))) > 0 {
			ownerOff, groupOff, modeOff = owner != "", group != "", hasMode
		}
	}
	var steps []step
	if ownerOff || groupOff {
		what := []string{}
		if ownerOff {
			what = append(what, fmt.Sprintf("owner %s -> %s", orNone(fi.Owner, exists), owner))
		}
		if groupOff {
			what = append(what, fmt.Sprintf("group %s -> %s", orNone(fi.Group, exists), group))
		}
		steps = append(steps, step{strings.Join(what, ", "), "chown " + r + chownSpec(owner, group) + " " + q})
	}
	// chmod after chown: chown clears setuid and setgid bits.
	if modeOff {
		was := "(new)"
		if exists {
			was = fmt.Sprintf("%04o", uint32(fi.Mode))
		}
		steps = append(steps, step{fmt.Sprintf("mode %s -> %04o", was, uint32(mode)), fmt.Sprintf("chmod %s%04o %s", r, uint32(mode), q)})
	}
	return steps, nil
}

func orNone(s string, exists bool) string {
	if !exists {
		return "(new)"
	}
	return s
}

// diff shows the path's state before and after as key: value lines, the way
// Ansible's file module diffs its before/after state.
func diff(p string, cur current, state string, a modules.Args, mode fs.FileMode, hasMode bool) modules.Diff {
	before := map[string]string{"state": cur.kind}
	after := map[string]string{"state": state}
	if cur.kind == "link" {
		before["src"] = cur.target
	}
	if state == "link" {
		after["src"] = a.Str("src")
	}
	if cur.fi.Exists && cur.kind != "link" {
		before["mode"] = fmt.Sprintf("%04o", uint32(cur.fi.Mode))
		before["owner"], before["group"] = cur.fi.Owner, cur.fi.Group
	}
	if state != "absent" && state != "link" {
		for k, v := range map[string]string{"mode": before["mode"], "owner": before["owner"], "group": before["group"]} {
			if v != "" {
				after[k] = v
			}
		}
		if hasMode {
			after["mode"] = fmt.Sprintf("%04o", uint32(mode))
		}
		if o := a.Str("owner"); o != "" {
			after["owner"] = o
		}
		if g := a.Str("group"); g != "" {
			after["group"] = g
		}
	}
	return modules.Diff{Path: p, Before: lines(before), After: lines(after)}
}

func lines(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, m[k])
	}
	return b.String()
}
