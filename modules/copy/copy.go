// Package copy is the copy module: a controller file or inline content to a
// file on the host, written atomically and only when it differs.
package copy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"kplay/modules"
	"kplay/modules/internal/fileop"
)

func init() { modules.Register(Copy{}) }

// Copy is the copy module.
type Copy struct{}

var (
	_ modules.Module      = Copy{}
	_ modules.ArgsChecker = Copy{}
)

// Info documents copy's arguments, named as Ansible's.
func (Copy) Info() modules.Info {
	return modules.Info{
		Name:    "copy",
		Summary: "Copy a file from the controller, or inline content, to the host",
		Doc: `Writes dest on the host from src (a file on the machine running kplay) or from
content. The host's file is compared by sha256 first: when content, mode, owner
and group already match nothing is written and the task is ok. Otherwise the
new file is written to a temporary file in dest's directory with its final mode
and owner, synced and renamed over dest, so readers never see half a file.
A relative src is looked up in the playbook's files/ directory, then beside the
playbook. When dest ends in "/" or is an existing directory, the file is written
as dest/basename(src). Missing parent directories are created (directory_mode).
Key-like files (*.key, *key*.pem, mode 0600) never show their content in --diff.
With remote_src, src is a file already on the host. Directory trees as src are
not supported: copy one file per task.`,
		CheckMode: "Reads the host and reports changed with the diff; writes nothing. A src that does not exist yet (an earlier task would make it) is reported as a change with unknown content.",
		Returns:   "dest, src, checksum (sha256), size, mode, owner, group, backup_file (when a backup was made).",
		Args: []modules.Arg{
			{Name: "dest", Type: modules.String, Required: true, Doc: "Path on the host; a trailing / or an existing directory means dest/basename(src)."},
			{Name: "src", Type: modules.String, Doc: "File on the controller: absolute, or relative to the playbook's files/ directory, then the playbook's directory. Exclusive with content."},
			{Name: "content", Type: modules.String, Doc: "Text to write instead of src."},
			{Name: "remote_src", Type: modules.Bool, Default: false, Doc: "src is a file on the host itself, not on the controller."},
			{Name: "mode", Type: modules.Mode, Doc: "Mode of dest (0644, \"0600\", \"u=rw,g=r,o=\"). Default: an existing file's mode, 0644 for a new one."},
			{Name: "owner", Type: modules.String, Doc: "Owner of dest. Default: the existing owner, or the connecting (become) user."},
			{Name: "group", Type: modules.String, Doc: "Group of dest. Default as owner."},
			{Name: "backup", Type: modules.Bool, Default: false, Doc: "Keep the old file as dest.<timestamp>~ when its content changes."},
			{Name: "force", Type: modules.Bool, Default: true, Aliases: []string{"thirsty"}, Doc: "Replace dest when it differs; false only creates a missing dest."},
			{Name: "directory_mode", Type: modules.Mode, Doc: "Mode of parent directories created for dest (default 0755)."},
		},
	}
}

// CheckArgs refuses what Ansible refuses before running: src with content,
// or neither.
func (Copy) CheckArgs(a modules.Args) error {
	return checkArgs(a)
}

func checkArgs(a modules.Args) error {
	_, hasSrc := a["src"]
	_, hasContent := a["content"]
	switch {
	case hasSrc && hasContent:
		return fmt.Errorf("copy: src and content are mutually exclusive")
	case !hasSrc && !hasContent:
		return fmt.Errorf("copy: one of src or content is required")
	}
	return nil
}

// Plan reads the source and the host's file and says what would change.
func (Copy) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	a := c.Args
	if err := checkArgs(a); err != nil {
		return nil, err
	}
	var content []byte
	src := a.Str("src")
	dest := a.Str("dest")
	switch {
	case src != "" && a.Bool("remote_src"):
		fi, err := c.Conn.Stat(ctx, src, c.Opts)
		if err != nil {
			return nil, fmt.Errorf("copy: %w", err)
		}
		if !fi.Exists || fi.IsDir {
			return &modules.Plan{Failed: true, Msg: fmt.Sprintf("copy: src %s is not a file on the host (remote_src)", src)}, nil
		}
		if content, err = c.Conn.ReadFile(ctx, src, c.Opts); err != nil {
			return nil, fmt.Errorf("copy: %w", err)
		}
	case src != "":
		p, err := fileop.FindLocal(c, "files", src)
		if err != nil {
			return nil, fmt.Errorf("copy: %w", err)
		}
		if content, err = fileop.ReadLocal(ctx, c, p); err != nil {
			if c.Check && errors.Is(err, fs.ErrNotExist) {
				return notYetThere(c, p, dest), nil
			}
			return nil, fmt.Errorf("copy: %w", err)
		}
		src = p
	default:
		content = []byte(a.Str("content"))
	}
	mode, _ := a.FileMode("mode")
	dirMode, _ := a.FileMode("directory_mode")
	p, err := fileop.PlanTo(ctx, c, dest, src, fileop.Want{
		Content: content, Mode: mode,
		Owner: a.Str("owner"), Group: a.Str("group"),
		Backup: a.Bool("backup"), Force: a.Bool("force"), DirMode: dirMode, Src: src,
	})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return p, nil
}

// notYetThere is check mode's answer for a src that does not exist yet. In a
// real run an earlier task would have made it (a certificate the cert task
// issues, say), and check mode runs no task for real, so failing here would
// make --check useless for such playbooks. The task is reported as a change
// whose content is unknown; a real run still fails if src is missing then.
func notYetThere(c *modules.Call, src, dest string) *modules.Plan {
	msg := fmt.Sprintf("would copy %s to %s; %s does not exist yet (an earlier task of a real run may create it)", src, dest, src)
	p := &modules.Plan{Changed: true, Msg: msg, Data: map[string]any{"dest": dest, "src": src}}
	if c.Diff {
		p.Diffs = []modules.Diff{{Path: dest, After: fmt.Sprintf("(content of %s, not yet created)\n", src)}}
	}
	return p
}
