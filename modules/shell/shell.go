// Package shell is the shell module: a command line run through the host's
// sh -c, with pipes, redirections and variables.
package shell

import (
	"context"
	"fmt"

	"kplay/modules"
	"kplay/modules/internal/runcmd"
	"kplay/transport/shquote"
)

func init() { modules.Register(Shell{}) }

// Shell is the shell module.
type Shell struct{}

var _ modules.Module = Shell{}

// Info documents shell's arguments, named as Ansible's.
func (Shell) Info() modules.Info {
	return modules.Info{
		Name:    "shell",
		Summary: "Run a command line through the host's shell",
		Doc: `Runs cmd with sh -c on the host (or with executable -c), so pipes, redirections,
&& and variables work. The task is changed whenever the command runs, failed
when its rc is not 0 (the message names the rc and stderr). creates and removes
make it idempotent: with creates the command runs only while that path is
missing. Paths in chdir, creates and removes are quoted: shell characters in
them are never run. The free form (shell: echo hi creates=/x) is cmd, with
Ansible's inline k=v words for the other arguments.`,
		CheckMode: "Skipped, unless creates or removes decide it: then ok when they stop the command, changed when it would run.",
		Returns:   runcmd.Returns,
		FreeForm:  "cmd",
		Args: append([]modules.Arg{
			{Name: "cmd", Type: modules.String, Required: true, Doc: "The command line, given to sh -c."},
			{Name: "executable", Type: modules.String, Doc: "Shell to run cmd with (executable -c cmd), e.g. /bin/bash."},
		}, runcmd.Args...),
	}
}

// Plan checks creates/removes and chdir and returns the run as Apply.
func (Shell) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	a := c.Args
	cmd := a.Str("cmd")
	if cmd == "" {
		return nil, fmt.Errorf("shell: cmd is empty")
	}
	line := cmd
	if exe := a.Str("executable"); exe != "" {
		line = shquote.Quote(exe) + " -c " + shquote.Quote(cmd)
	}
	return runcmd.Plan(ctx, c, runcmd.Spec{
		Module: "shell", Cmd: line, Reg: cmd,
		Chdir: a.Str("chdir"), Creates: a.Str("creates"), Removes: a.Str("removes"),
		Stdin: runcmd.StdinOf(a),
	})
}
