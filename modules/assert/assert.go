// Package assert is the assert module: fail the task unless every
// expression holds.
package assert

import (
	"context"
	"fmt"
	"strings"

	"kplay/modules"
)

func init() { modules.Register(Assert{}) }

// Assert is the assert module.
type Assert struct{}

var (
	_ modules.Module      = Assert{}
	_ modules.ArgsChecker = Assert{}
)

// Info documents assert's arguments, named as Ansible's.
func (Assert) Info() modules.Info {
	return modules.Info{
		Name:    "assert",
		Summary: "Fail unless every expression holds",
		Doc: `Evaluates each expression of that (one string or a list), without {{ }}, with
the host's variables, in order. The first one that is false fails the task with
fail_msg (or a message naming the expression); when all hold the task is ok
with success_msg. Each expression must give a boolean: a string or a number is
an error rather than a guess at its truth (write r.stdout != "").`,
		CheckMode: "Runs as usual: it only reads variables.",
		Returns:   "msg; on failure also assertion (the expression) and evaluated_to.",
		RunsOn:    modules.OnController,
		Args: []modules.Arg{
			{Name: "that", Type: modules.Any, Required: true, Doc: "Expression or list of expressions that must all be true."},
			{Name: "fail_msg", Type: modules.Any, Aliases: []string{"msg"}, Doc: "Message when an expression is false."},
			{Name: "success_msg", Type: modules.Any, Doc: "Message when all hold (default \"All assertions passed\")."},
			{Name: "quiet", Type: modules.Bool, Default: false, Doc: "Shorter output on success."},
		},
	}
}

// CheckArgs checks that is a string or a list of strings.
func (Assert) CheckArgs(a modules.Args) error {
	_, err := exprs(a["that"])
	return err
}

func exprs(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, fmt.Errorf("assert: that is empty")
		}
		return []string{x}, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				// A literal true/false in YAML is still an answer.
				if b, isBool := e.(bool); isBool {
					s = fmt.Sprint(b)
				} else {
					return nil, fmt.Errorf("assert: that[%d]: want an expression string, got %T", i, e)
				}
			}
			out[i] = s
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("assert: that is an empty list")
		}
		return out, nil
	case bool:
		return []string{fmt.Sprint(x)}, nil
	}
	return nil, fmt.Errorf("assert: that: want an expression or a list of them, got %T", v)
}

// Plan evaluates the expressions; the answer is the plan, nothing to apply.
func (Assert) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	a := c.Args
	list, err := exprs(a["that"])
	if err != nil {
		return nil, err
	}
	if c.Eval == nil {
		return nil, fmt.Errorf("assert: no evaluator in this call")
	}
	for _, e := range list {
		v, err := c.Eval(e)
		if err != nil {
			return nil, fmt.Errorf("assert: %s: %w", e, err)
		}
		ok, isBool := v.(bool)
		if !isBool {
			return nil, fmt.Errorf("assert: %s: gave %T %v, want true or false", e, v, v)
		}
		if !ok {
			msg := fmt.Sprintf("Assertion failed: %s", e)
			if fm, given := a["fail_msg"]; given {
				msg = fmt.Sprint(fm)
			}
			return &modules.Plan{Failed: true, Msg: msg, Data: map[string]any{
				"msg": msg, "assertion": e, "evaluated_to": false,
			}}, nil
		}
	}
	msg := "All assertions passed"
	if sm, given := a["success_msg"]; given {
		msg = fmt.Sprint(sm)
	}
	if a.Bool("quiet") {
		return &modules.Plan{Msg: msg, Data: map[string]any{"msg": msg}}, nil
	}
	return &modules.Plan{Msg: msg + ": " + strings.Join(list, "; "), Data: map[string]any{"msg": msg}}, nil
}
