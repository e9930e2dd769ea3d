// Package debug is the debug module: print a message or a variable's value.
package debug

import (
	"context"
	"encoding/json"
	"fmt"

	"kplay/modules"
)

func init() { modules.Register(Debug{}) }

// Debug is the debug module.
type Debug struct{}

var (
	_ modules.Module      = Debug{}
	_ modules.ArgsChecker = Debug{}
)

// Info documents debug's arguments, named as Ansible's.
func (Debug) Info() modules.Info {
	return modules.Info{
		Name:    "debug",
		Summary: "Print a message or the value of an expression",
		Doc: `Shows msg (any value; strings may hold {{ }}) or the value of var, an
expression evaluated with the host's variables (var: result.stdout_lines). Never
changes anything. An undefined variable in var is an error, not an empty value.
With verbosity: N the task shows only when kplay runs with at least N -v flags,
and is reported skipped otherwise.`,
		CheckMode: "Runs as usual: it only reads variables.",
		Returns:   "msg, or the var expression as the key holding its value.",
		RunsOn:    modules.OnController,
		Args: []modules.Arg{
			{Name: "msg", Type: modules.Any, Doc: "Message to show (default \"Hello world!\"). Exclusive with var."},
			{Name: "var", Type: modules.String, Doc: "Expression whose value to show, without {{ }}. Exclusive with msg."},
			{Name: "verbosity", Type: modules.Int, Default: 0, Doc: "Show only with at least this many -v."},
		},
	}
}

// CheckArgs refuses msg with var.
func (Debug) CheckArgs(a modules.Args) error {
	if a.Has("msg") && a.Has("var") {
		return fmt.Errorf("debug: msg and var are mutually exclusive")
	}
	return nil
}

// Plan computes the message; there is nothing to apply.
func (d Debug) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	a := c.Args
	if err := d.CheckArgs(a); err != nil {
		return nil, err
	}
	if v := a.Int("verbosity"); c.Verbosity < v {
		return &modules.Plan{Skipped: fmt.Sprintf("verbosity threshold not met (needs -%s)", repeat('v', v))}, nil
	}
	if a.Has("var") {
		expr := a.Str("var")
		if c.Eval == nil {
			return nil, fmt.Errorf("debug: no evaluator in this call")
		}
		v, err := c.Eval(expr)
		if err != nil {
			return nil, fmt.Errorf("debug: var %s: %w", expr, err)
		}
		return &modules.Plan{Msg: expr + ": " + show(v), Data: map[string]any{expr: v}}, nil
	}
	msg, ok := a["msg"]
	if !ok {
		msg = "Hello world!"
	}
	return &modules.Plan{Msg: show(msg), Data: map[string]any{"msg": msg}}, nil
}

// show prints strings as they are and other values as indented JSON, the way
// ansible-playbook shows them.
func show(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func repeat(r rune, n int) string {
	b := make([]rune, n)
	for i := range b {
		b[i] = r
	}
	return string(b)
}
