// Package set_fact is the set_fact module: set host variables for the rest
// of the run.
package set_fact

import (
	"context"
	"fmt"
	"regexp"
	"sort"

	"kplay/modules"
)

func init() { modules.Register(SetFact{}) }

// SetFact is the set_fact module.
type SetFact struct{}

var (
	_ modules.Module      = SetFact{}
	_ modules.ArgsChecker = SetFact{}
)

// Info documents set_fact: every argument is a fact.
func (SetFact) Info() modules.Info {
	return modules.Info{
		Name:    "set_fact",
		Summary: "Set host variables from the task's arguments",
		Doc: `Each argument becomes a variable of the host for the tasks after it, with its
value as rendered ({{ }} in values is evaluated; a value that is exactly one
{{ expr }} keeps its type, so a list stays a list). Facts outrank inventory and
play vars, as in Ansible. Never changes anything on the host.`,
		CheckMode: "Runs as usual: facts are set in check mode too.",
		Returns:   "ansible_facts: the facts set.",
		RunsOn:    modules.OnController,
		AnyArgs:   true,
		Args: []modules.Arg{
			{Name: "cacheable", Type: modules.Bool, Default: false, Doc: "Accepted for Ansible playbooks; kplay keeps no fact cache between runs."},
		},
	}
}

var factName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckArgs needs at least one fact, each a valid variable name.
func (SetFact) CheckArgs(a modules.Args) error {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	n := 0
	for _, k := range keys {
		if k == "cacheable" {
			continue
		}
		if !factName.MatchString(k) {
			return fmt.Errorf("set_fact: %q is not a valid variable name (letters, digits, _; not starting with a digit)", k)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("set_fact: no facts given")
	}
	return nil
}

// Plan returns the facts; there is nothing to apply.
func (s SetFact) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	if err := s.CheckArgs(c.Args); err != nil {
		return nil, err
	}
	facts := make(map[string]any, len(c.Args))
	for k, v := range c.Args {
		if k != "cacheable" {
			facts[k] = v
		}
	}
	return &modules.Plan{Facts: facts, Data: map[string]any{"ansible_facts": facts}}, nil
}
