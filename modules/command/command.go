// Package command is the command module: a program and its arguments, with no
// shell in between.
package command

import (
	"context"
	"fmt"
	"strings"

	"kplay/modules"
	"kplay/modules/internal/runcmd"
	"kplay/transport/shquote"
)

func init() { modules.Register(Command{}) }

// Command is the command module.
type Command struct{}

var (
	_ modules.Module      = Command{}
	_ modules.ArgsChecker = Command{}
)

// Info documents command's arguments, named as Ansible's.
func (Command) Info() modules.Info {
	return modules.Info{
		Name:    "command",
		Summary: "Run a program with arguments, without a shell",
		Doc: `Runs a program on the host without shell processing: cmd is split into words
with the shell's quoting rules ('...', "...", backslash) and nothing else, so
| ; && > $VAR and $(...) reach the program as plain characters. Use argv to
give the words as a list. Each word is quoted on its way to the host. The task
is changed whenever the program runs and failed when its rc is not 0. creates
and removes make it idempotent, as with shell. Unlike Ansible, $VAR and ~ in
words are not expanded.`,
		CheckMode: "Skipped, unless creates or removes decide it: then ok when they stop the command, changed when it would run.",
		Returns:   runcmd.Returns + " cmd is the list of words.",
		FreeForm:  "cmd",
		Args: append([]modules.Arg{
			{Name: "cmd", Type: modules.String, Doc: "Program and arguments, split with shell quoting rules. Exclusive with argv."},
			{Name: "argv", Type: modules.Any, Doc: "Program and arguments as a list. Exclusive with cmd."},
		}, runcmd.Args...),
	}
}

// CheckArgs refuses cmd with argv, neither, or an unterminated quote.
func (Command) CheckArgs(a modules.Args) error {
	_, err := words(a)
	return err
}

func words(a modules.Args) ([]string, error) {
	_, hasCmd := a["cmd"]
	argv, hasArgv := a["argv"]
	switch {
	case hasCmd && hasArgv:
		return nil, fmt.Errorf("command: cmd and argv are mutually exclusive")
	case hasArgv:
		l, ok := argv.([]any)
		if !ok {
			return nil, fmt.Errorf("command: argv: want a list of words, got %T", argv)
		}
		w := make([]string, len(l))
		for i, v := range l {
			switch x := v.(type) {
			case string:
				w[i] = x
			case int, int64, float64, bool:
				w[i] = fmt.Sprint(x)
			default:
				return nil, fmt.Errorf("command: argv[%d]: want a word, got %T", i, v)
			}
		}
		if len(w) == 0 {
			return nil, fmt.Errorf("command: argv is empty")
		}
		return w, nil
	case hasCmd:
		w, err := shquote.Split(a.Str("cmd"))
		if err != nil {
			return nil, fmt.Errorf("command: cmd %q: %w", a.Str("cmd"), err)
		}
		if len(w) == 0 {
			return nil, fmt.Errorf("command: cmd is empty")
		}
		return w, nil
	}
	return nil, fmt.Errorf("command: one of cmd or argv is required")
}

// Plan splits the command, checks creates/removes and chdir, and returns the
// run as Apply.
func (Command) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	w, err := words(c.Args)
	if err != nil {
		return nil, err
	}
	reg := make([]any, len(w))
	for i, s := range w {
		reg[i] = s
	}
	a := c.Args
	return runcmd.Plan(ctx, c, runcmd.Spec{
		Module: "command", Cmd: line(w), Reg: reg,
		Chdir: a.Str("chdir"), Creates: a.Str("creates"), Removes: a.Str("removes"),
		Stdin: runcmd.StdinOf(a),
	})
}

// line is the command line for sh -c: exec, so no shell stays around, and
// the program name always quoted, so sh never reads it as a keyword (if,
// while) or an assignment.
func line(w []string) string {
	prog := "'" + strings.ReplaceAll(w[0], "'", `'\''`) + "'"
	if len(w) == 1 {
		return "exec " + prog
	}
	return "exec " + prog + " " + shquote.Join(w[1:])
}
