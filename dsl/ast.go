// Package dsl turns playbook, inventory and template files into typed values
// that keep their source positions, and holds kplay's expression language
// (github.com/expr-lang/expr) and template renderer. It never imports the
// modules: the caller passes the module schemas it should check against.
package dsl

import "kplay/diag"

// Pos re-exports diag.Pos for brevity inside dsl.
type Pos = diag.Pos

// Vars are the variables a task sees: inventory, play, task, registered,
// extra vars, and the magic ones (inventory_hostname, groups, hostvars,
// ansible_check_mode, item).
type Vars = map[string]any

// ValueKind says what a Value holds.
type ValueKind int

const (
	Null   ValueKind = iota
	Scalar           // bool, int, float64 or a string without {{ }}
	Text             // a string with {{ }}: Tmpl is set
	List
	Map
)

// Value is a YAML value from a playbook or vars file, with its position.
// Strings holding {{ }} are compiled once, at parse time.
type Value struct {
	Pos    Pos
	Kind   ValueKind
	Scalar any       // Scalar: bool, int, float64, string
	Tmpl   *Template // Text
	List   []*Value  // List
	Map    []*Entry  // Map, in file order
}

// Entry is one key of a mapping Value.
type Entry struct {
	Key    string
	KeyPos Pos
	Value  *Value
}

// Playbook is a parsed playbook file.
type Playbook struct {
	Path  string
	Plays []*Play
}

// Play is one play.
type Play struct {
	Pos               Pos
	Name              string
	Hosts             string // host pattern: group, host, a:b, a:&b, a:!b, all
	HostsPos          Pos
	Vars              []*Entry // in file order; later ones may use earlier ones
	VarsFiles         []*Value // paths, relative to the playbook's directory
	Become            *bool
	BecomeUser        string
	Serial            []Serial // empty: all hosts in one batch
	GatherFacts       bool
	AnyErrorsFatal    bool
	MaxFailPercentage *float64
	Tags              []string
	Environment       []*Entry
	Tasks             []*Task // pre_tasks, tasks and post_tasks, in that order
	// Flushes are the indices into Tasks where handlers notified so far run,
	// as Ansible runs them after pre_tasks and after tasks (an implicit
	// meta: flush_handlers); nil without pre_tasks and post_tasks.
	Flushes  []int
	Handlers []*Task
}

// Serial is one batch size: Count hosts, or Percent of the play's hosts.
type Serial struct {
	Count   int
	Percent float64 // used when Count == 0
}

// Task is a task, a handler, or a block (Module == "" and Block != nil).
type Task struct {
	Pos       Pos
	Name      string
	Module    string // as written minus any "ansible.builtin." prefix
	ModulePos Pos
	// Args are the module's arguments; a free-form string (`shell: echo hi`)
	// is stored under the module's FreeForm argument name.
	Args []*Entry

	When    []*Expr // all must hold
	Loop    *Value
	LoopVar string // loop_control.loop_var, default "item"
	// WithItems: the loop is with_items, whose list Ansible flattens one
	// level and whose single non-list value is one item.
	WithItems   bool
	Register    string
	Notify      []string
	Listen      []string // handlers only
	ChangedWhen []*Expr
	FailedWhen  []*Expr
	// IgnoreErrors keeps going after a failure of this task.
	IgnoreErrors bool
	// AnyErrorsFatal: a host failing this task (or, on a block, any of its
	// tasks, unless rescued) stops the play for every host.
	AnyErrorsFatal bool
	Until          []*Expr
	Retries        int     // default 3 when Until is set
	Delay          float64 // seconds, default 5
	Tags           []string
	Vars           []*Entry
	Environment    []*Entry
	Become         *bool
	BecomeUser     string
	RunOnce        bool
	DelegateTo     string // only "localhost" (or 127.0.0.1) is supported
	CheckMode      *bool  // nil: follow --check
	NoLog          bool
	// Timeout bounds one attempt of the task, in seconds (Ansible's task
	// keyword); 0 means no limit. A command still running then is stopped
	// on the host and the task fails.
	Timeout int
	// Meta is the action of a `meta:` task (Module "meta"): only
	// "flush_handlers", which runs the handlers notified so far, there.
	Meta string

	Block  []*Task
	Rescue []*Task
	Always []*Task

	// argExprs are arguments that are expressions, not text (assert's
	// that, debug's var), compiled at parse time for the static checks.
	argExprs []*Expr
}

// IsBlock reports whether t is a block rather than a module call.
func (t *Task) IsBlock() bool { return t.Module == "" && t.Block != nil }

// ModuleSchema is what the parser knows about a module, to check a task's
// arguments before anything runs. The command line builds these from the
// module registry.
type ModuleSchema struct {
	Name     string
	FreeForm string             // argument a plain string fills, "" if none
	Args     map[string]ArgSpec // by name and by alias
	// FreeKeys accepts any argument name (set_fact: the keys are the
	// variables it sets); Args then only types the ones it lists.
	FreeKeys bool
}

// ArgSpec is one argument of a module.
type ArgSpec struct {
	// Name is the argument's own name; under an alias key it tells which
	// argument the alias stands for ("" means the key itself).
	Name     string
	Type     string // as modules.ArgType: string, bool, int, float, mode, list, map, duration, any
	Required bool
	Choices  []string
}
