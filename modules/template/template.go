// Package template is the template module: a controller template rendered
// with the host's variables and written like copy.
package template

import (
	"context"
	"fmt"
	"path/filepath"

	"kplay/modules"
	"kplay/modules/internal/fileop"
)

func init() { modules.Register(Template{}) }

// Template is the template module.
type Template struct{}

var _ modules.Module = Template{}

// Info documents template's arguments, named as Ansible's.
func (Template) Info() modules.Info {
	return modules.Info{
		Name:    "template",
		Summary: "Render a template on the controller and write it to the host",
		Doc: `Renders src with the host's variables ({{ expr }}, {% if %}, {% for %}: kplay's
template language, the same expressions as when:) and writes the result to dest
exactly as copy does: compared by sha256 first, written atomically with its
final mode and owner only when something differs. A relative src is looked up
in the playbook's templates/ directory, then beside the playbook. A template
error names the template file and its line.`,
		CheckMode: "Renders, reads the host and reports changed with the diff; writes nothing.",
		Returns:   "dest, src, checksum (sha256), size, mode, owner, group, backup_file (when a backup was made).",
		Args: []modules.Arg{
			{Name: "src", Type: modules.String, Required: true, Doc: "Template on the controller: absolute, or relative to the playbook's templates/ directory, then the playbook's directory."},
			{Name: "dest", Type: modules.String, Required: true, Doc: "Path on the host; a trailing / or an existing directory means dest/basename(src)."},
			{Name: "mode", Type: modules.Mode, Doc: "Mode of dest. Default: an existing file's mode, 0644 for a new one."},
			{Name: "owner", Type: modules.String, Doc: "Owner of dest. Default: the existing owner, or the connecting (become) user."},
			{Name: "group", Type: modules.String, Doc: "Group of dest. Default as owner."},
			{Name: "backup", Type: modules.Bool, Default: false, Doc: "Keep the old file as dest.<timestamp>~ when its content changes."},
			{Name: "force", Type: modules.Bool, Default: true, Doc: "Replace dest when it differs; false only creates a missing dest."},
			{Name: "directory_mode", Type: modules.Mode, Doc: "Mode of parent directories created for dest (default 0755)."},
		},
	}
}

// Plan renders the template, reads the host's file and says what would
// change.
func (Template) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	a := c.Args
	if c.Render == nil {
		return nil, fmt.Errorf("template: no renderer in this call")
	}
	src, err := fileop.FindLocal(c, "templates", a.Str("src"))
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	text, err := fileop.ReadLocal(ctx, c, src)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	// Errors name the template as the user wrote it, relative to the
	// playbook when it is under it.
	name := src
	if rel, err := filepath.Rel(c.Dir, src); err == nil && filepath.IsLocal(rel) {
		name = rel
	}
	out, err := c.Render(name, text)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	mode, _ := a.FileMode("mode")
	dirMode, _ := a.FileMode("directory_mode")
	p, err := fileop.PlanTo(ctx, c, a.Str("dest"), src, fileop.Want{
		Content: []byte(out), Mode: mode,
		Owner: a.Str("owner"), Group: a.Str("group"),
		Backup: a.Bool("backup"), Force: a.Bool("force"), DirMode: dirMode, Src: src,
	})
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return p, nil
}
