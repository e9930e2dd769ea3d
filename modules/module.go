// Package modules holds the Module interface and the registry. Each module
// lives in its own package under modules/, registers itself in init(), and is
// linked into the binary by a blank import in modules/all.
package modules

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"kplay/transport"
)

// Module is one kind of task. Plan reads the host and says what the task
// would change, changing nothing; the engine calls Plan.Apply only outside
// check mode. That split is what makes --check honest: a module that cannot
// tell what would change says so with SkipInCheck instead of guessing.
type Module interface {
	Info() Info
	Plan(ctx context.Context, c *Call) (*Plan, error)
}

// ArgsChecker is an optional ability: static checks of arguments beyond their
// declared types (mutually exclusive arguments, a valid unit name), run before
// any host is touched when the values are literals.
type ArgsChecker interface {
	CheckArgs(a Args) error
}

// Where a module runs.
const (
	OnHost       = "host"       // on the task's host, through its connection
	OnController = "controller" // on the machine running kplay (cert, http_check)
)

// Info documents a module for `kplay doc` and drives argument checking.
type Info struct {
	Name      string // "copy"; also reachable as "ansible.builtin.copy"
	Summary   string // one line
	Doc       string // a paragraph or more
	CheckMode string // what --check does for this module
	Returns   string // what `register` holds beyond changed/failed/msg
	RunsOn    string // OnHost (default) or OnController
	// FreeForm names the argument that a plain string fills
	// (`shell: echo hi` is cmd: "echo hi").
	FreeForm string
	// AnyArgs accepts argument names not in Args, as type Any (set_fact's
	// keys are the facts it sets). Declared Args are still checked.
	AnyArgs bool
	Args    []Arg
}

// ArgType is the declared type of an argument.
type ArgType string

const (
	String   ArgType = "string"
	Bool     ArgType = "bool"
	Int      ArgType = "int"
	Float    ArgType = "float"
	Mode     ArgType = "mode"     // file mode: 0644, "0644", "u=rw,g=r"
	List     ArgType = "list"     // list of anything
	Map      ArgType = "map"      // mapping of string keys
	Duration ArgType = "duration" // seconds as a number, or "30s", "2m"
	Any      ArgType = "any"
)

// Arg documents one argument.
type Arg struct {
	Name     string
	Type     ArgType
	Required bool
	Default  any
	Choices  []string
	Aliases  []string
	Doc      string
}

// Call is one task on one host, with its arguments already rendered.
type Call struct {
	Host  string         // inventory_hostname
	Conn  transport.Conn // the task's host (localhost's when delegated or OnController)
	Local transport.Conn // the control machine
	Args  Args
	Check bool // --check (or check_mode: true)
	Diff  bool // --diff
	Opts  transport.Options
	Env   map[string]string // the task's environment:
	// Vars are the host's variables as the task sees them.
	Vars map[string]any
	// Render renders template text (with {{ }}, {% if %}, {% for %}) with the
	// host's variables; name is used in error positions.
	Render func(name string, text []byte) (string, error)
	// Eval evaluates an expression (assert's `that`, debug's `var`) with the
	// host's variables; the engine compiles each source string once.
	Eval func(expr string) (any, error)
	// Dir is the playbook's directory: relative paths (copy's src, template's
	// src) resolve against Dir/files or Dir/templates, then Dir.
	Dir string
	// Hosts lists every inventory host, for modules that map names back
	// (k8s_leader maps a lease holder to a host).
	Hosts []HostRef
	// Progress reports a long wait so the user sees progress, not silence.
	Progress func(msg string)
	NoLog    bool
	// Verbosity is the number of -v flags (debug's verbosity argument).
	Verbosity int
}

// HostRef names an inventory host and the addresses it is known by.
type HostRef struct {
	Name    string
	Address string // ansible_host, or Name
}

// Plan is what a task would do.
type Plan struct {
	Changed bool
	Msg     string
	Diffs   []Diff
	// Data is registered as the task's result when Apply is not run (check
	// mode, or nothing to do): rc, stdout, ActiveState, ...
	Data map[string]any
	// Facts are set as host variables (set_fact).
	Facts map[string]any
	// SkipInCheck, when set, makes check mode report the task as skipped with
	// this reason, because the module cannot know the outcome without running.
	SkipInCheck string
	// Failed reports a failure found while planning (assert, a missing src).
	Failed bool
	// Skipped, when set, reports the task as skipped with this reason in
	// every mode (debug above the run's verbosity). Apply is nil then.
	Skipped string
	// Apply makes the change; nil when there is nothing to do.
	Apply func(ctx context.Context) (*Result, error)
}

// Result is what Apply did.
type Result struct {
	Changed bool
	Failed  bool
	Msg     string
	Data    map[string]any
	Facts   map[string]any
	Diffs   []Diff // nil: the plan's diffs stand
}

// Diff is a before/after pair for --diff.
type Diff struct {
	Path   string
	Before string
	After  string
	// Secret hides the content (key files, no_log): the diff shows only that
	// the file changes.
	Secret bool
}

var registry = map[string]Module{}

// Register adds a module; it panics on a duplicate name, like caddy's.
func Register(m Module) {
	name := m.Info().Name
	if name == "" {
		panic("modules: Register with empty name")
	}
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("modules: %q registered twice", name))
	}
	registry[name] = m
}

// Lookup finds a module by name, with or without the ansible.builtin. prefix.
func Lookup(name string) (Module, bool) {
	m, ok := registry[strings.TrimPrefix(name, "ansible.builtin.")]
	return m, ok
}

// All returns every registered module sorted by name.
func All() []Module {
	out := make([]Module, 0, len(registry))
	for _, m := range registry {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info().Name < out[j].Info().Name })
	return out
}
