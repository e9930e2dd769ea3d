// Package engine runs parsed playbooks: plays × hosts, serial batches, forks,
// check and diff mode, loops, retries, blocks, handlers and the recap. It
// reports what happens as a stream of Events; the command line turns them
// into text or JSON.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"kplay/dsl"
	"kplay/modules"
	"kplay/transport"
)

// Inventory is what the engine needs from an inventory: which hosts a
// pattern names, each host's variables, and the groups.
type Inventory interface {
	// Hosts returns the names of the hosts a pattern matches (group, host,
	// a:b, a:&b, a:!b, all), in inventory order.
	Hosts(pattern string) ([]string, error)
	// HostVars returns a host's variables (group and host vars merged), raw:
	// strings may still hold {{ }}; the engine renders them when used.
	HostVars(host string) map[string]any
	// Groups returns every group with its hosts, all and ungrouped included.
	Groups() map[string][]string
}

// Options are one run of a playbook.
type Options struct {
	Playbook  *dsl.Playbook
	Inventory Inventory
	// Dialer opens connections; HostSpec.Connection says which kind
	// ("local" for localhost and ansible_connection=local, else "ssh").
	// Dialers routes by that name.
	Dialer transport.Dialer

	Limit       string // --limit pattern, "" for none
	Forks       int    // parallel hosts per task, default 5
	Check       bool   // --check
	Diff        bool   // --diff
	Tags        []string
	SkipTags    []string
	StartAtTask string
	ExtraVars   map[string]any // -e, highest precedence
	Become      bool           // -b
	Verbosity   int

	// Events receives every event, one at a time, in order. Nil drops them.
	Events func(Event)
}

// Dialers routes Dial by HostSpec.Connection ("" means "ssh").
type Dialers map[string]transport.Dialer

// Dial implements transport.Dialer.
func (d Dialers) Dial(ctx context.Context, h transport.HostSpec) (transport.Conn, error) {
	c := h.Connection
	if c == "" {
		c = "ssh"
	}
	dl, ok := d[c]
	if !ok {
		return nil, &transport.UnreachableError{Host: h.Name, Err: fmt.Errorf("connection %q is not supported", c)}
	}
	return dl.Dial(ctx, h)
}

// Outcome is the result of a run.
type Outcome struct {
	Stats       []HostStats
	Elapsed     time.Duration
	Failed      bool // a host failed
	Unreachable bool // a host was unreachable
	Interrupted bool // the context ended before the run did
}

// ExitCode is ansible-playbook's exit code for the outcome: 0 ok, 2 a host
// failed, 4 a host unreachable (which wins over failed, as in ansible), 99
// interrupted (ansible's code for Ctrl-C).
func (o *Outcome) ExitCode() int {
	switch {
	case o.Interrupted:
		return 99
	case o.Unreachable:
		return 4
	case o.Failed:
		return 2
	}
	return 0
}

// Run runs the playbook. The error is for problems that stop the whole run
// before or between plays (no inventory, a bad pattern); a failed host is
// not an error but part of the Outcome. When ctx ends, commands in flight
// are cancelled, no new task starts, and the recap covers what ran.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	if o.Playbook == nil || o.Inventory == nil || o.Dialer == nil {
		return nil, errors.New("engine: Run needs a playbook, an inventory and a dialer")
	}
	if o.Forks <= 0 {
		o.Forks = 5
	}
	r := newRunner(o)
	start := time.Now()
	err := r.run(ctx)
	r.closeConns()
	out := &Outcome{Elapsed: time.Since(start), Interrupted: ctx.Err() != nil}
	for _, name := range r.order {
		h := r.hosts[name]
		out.Stats = append(out.Stats, h.stats)
		if h.stats.Failed > 0 || h.dead {
			out.Failed = true
		}
		if h.stats.Unreachable > 0 {
			out.Unreachable = true
		}
	}
	r.emit(Event{Type: EvRecap, Recap: out.Stats, Elapsed: out.Elapsed.Seconds()})
	return out, err
}

// runner is the state of one run.
type runner struct {
	o      Options
	emitMu sync.Mutex
	cache  *exprCache

	mu     sync.Mutex
	hosts  map[string]*hostState
	order  []string // hosts in the order they were first seen, for the recap
	local  *connSlot
	groups map[string][]string

	refsOnce sync.Once
	refs     []modules.HostRef

	// groupVars and groupNames are the groups and group_names variables,
	// built once (makeGroupVars).
	groupsOnce sync.Once
	groupVars  map[string]any
	groupNames map[string][]any

	// started is false while --start-at-task is still looking for its task.
	started bool
}

func newRunner(o Options) *runner {
	r := &runner{
		o:       o,
		cache:   newExprCache(),
		hosts:   map[string]*hostState{},
		groups:  o.Inventory.Groups(),
		started: o.StartAtTask == "",
	}
	r.local = &connSlot{spec: transport.HostSpec{Name: "localhost", Connection: "local", Address: "localhost", Vars: map[string]any{}}}
	return r
}

func (r *runner) emit(e Event) {
	if r.o.Events == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.o.Events(e)
}

// host returns the state of a host, creating it on first use.
func (r *runner) host(name string) *hostState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.hosts[name]; ok {
		return h
	}
	h := newHostState(name, r.o.Inventory.HostVars(name))
	h.stats.Host = name
	r.hosts[name] = h
	r.order = append(r.order, name)
	return h
}

func (r *runner) closeConns() {
	for _, h := range r.hosts {
		h.conn.close()
	}
	r.local.close()
}

// connSlot is a connection opened once, on first use, and shared by every
// task of the run.
type connSlot struct {
	spec transport.HostSpec
	mu   sync.Mutex
	conn transport.Conn
	err  error
}

func (s *connSlot) get(ctx context.Context, d transport.Dialer) (transport.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil || s.err != nil {
		return s.conn, s.err
	}
	c, err := d.Dial(ctx, s.spec)
	if err != nil {
		if ctx.Err() != nil {
			// An interrupted dial says nothing about the host; try again
			// next time rather than remembering the failure.
			return nil, err
		}
		if !transport.IsUnreachable(err) {
			err = &transport.UnreachableError{Host: s.spec.Name, Err: err}
		}
		s.err = err
		return nil, err
	}
	s.conn = c
	return c, nil
}

func (s *connSlot) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}
