package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"kplay/diag"
	"kplay/dsl"
)

// exprCache compiles each expression and template source once per run, so a
// task on a hundred hosts compiles its `that:` or template file once.
type exprCache struct {
	mu    sync.Mutex
	exprs map[string]cached[*dsl.Expr]
	tmpls map[string]cached[*dsl.Template]
}

type cached[T any] struct {
	v   T
	err error
}

func newExprCache() *exprCache {
	return &exprCache{exprs: map[string]cached[*dsl.Expr]{}, tmpls: map[string]cached[*dsl.Template]{}}
}

func (c *exprCache) expr(src string, pos diag.Pos) (*dsl.Expr, error) {
	key := pos.String() + "\x00" + src
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.exprs[key]; ok {
		return e.v, e.err
	}
	e, err := dsl.CompileExpr(src, pos)
	c.exprs[key] = cached[*dsl.Expr]{e, err}
	return e, err
}

// tmpl compiles template text; key separates equal texts from different
// files so that error positions name the right file.
func (c *exprCache) tmpl(name, src string) (*dsl.Template, error) {
	key := name + "\x00" + src
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tmpls[key]; ok {
		return t.v, t.err
	}
	t, err := dsl.ParseTemplate(src, diag.Pos{File: name, Line: 1, Col: 1})
	c.tmpls[key] = cached[*dsl.Template]{t, err}
	return t, err
}

// lazyVal is a variable whose value needs templating: it is computed the
// first time an expression reads it, with the variables visible at that
// point, as Ansible does. An unused variable with an undefined reference is
// therefore not an error.
type lazyVal struct {
	names []string // variables it reads
	// guarded are the variables it reads only under `default` or `is
	// defined`: computed when they can be, left undefined when they cannot.
	guarded []string
	eval    func(vars map[string]any) (any, error)
}

// scope is the variables one task sees on one host: concrete values plus
// lazy ones, resolved on first read.
type scope struct {
	mu   sync.Mutex
	vals map[string]any
	lazy map[string]*lazyVal
	busy map[string]bool
}

func newScope() *scope {
	return &scope{vals: map[string]any{}, lazy: map[string]*lazyVal{}, busy: map[string]bool{}}
}

func (s *scope) set(k string, v any) {
	s.vals[k] = v
	delete(s.lazy, k)
}

func (s *scope) setLazy(k string, l *lazyVal) {
	delete(s.vals, k)
	s.lazy[k] = l
}

// setRaw sets a value that may hold {{ }} in its strings (inventory and
// vars file values): lazy when it does, concrete otherwise.
func (s *scope) setRaw(c *exprCache, k string, v any, origin string) {
	if l := lazyRaw(c, v, origin); l != nil {
		s.setLazy(k, l)
		return
	}
	s.set(k, v)
}

// resolve computes the lazy variables among names (and those they read).
func (s *scope) resolve(names []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resolveLocked(names)
}

// resolveGuarded computes names as resolve does, then the lazy variables
// among guarded (read only under `default` or `is defined`) that can be
// computed: one that cannot stays undefined, which is what the guard is for.
// Without this, `hostvars[h].x | default(y)` saw no hostvars and gave y.
func (s *scope) resolveGuarded(names, guarded []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.resolveLocked(names); err != nil {
		return err
	}
	s.tryResolveLocked(guarded)
	return nil
}

func (s *scope) tryResolveLocked(names []string) {
	for _, n := range names {
		if _, ok := s.lazy[n]; ok && !s.busy[n] {
			_ = s.resolveLocked([]string{n})
		}
	}
}

func (s *scope) resolveLocked(names []string) error {
	for _, n := range names {
		l, ok := s.lazy[n]
		if !ok {
			continue
		}
		if s.busy[n] {
			return fmt.Errorf("variable %q refers to itself", n)
		}
		s.busy[n] = true
		err := s.resolveLocked(l.names)
		var v any
		if err == nil {
			s.tryResolveLocked(l.guarded)
			v, err = l.eval(s.vals)
		}
		delete(s.busy, n)
		if err != nil {
			return fmt.Errorf("variable %q: %w", n, err)
		}
		delete(s.lazy, n)
		s.vals[n] = v
	}
	return nil
}

// all resolves every lazy variable it can and returns the values, for
// modules that read Call.Vars directly. Variables that cannot be computed
// stay out, as undefined. Names in skip stay lazy and out (hostvars: every
// host's variables, costly and read through expressions instead).
func (s *scope) all(skip ...string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.lazy))
	for n := range s.lazy {
		if !slices.Contains(skip, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		_ = s.resolveLocked([]string{n})
	}
	out := make(map[string]any, len(s.vals))
	for k, v := range s.vals {
		out[k] = v
	}
	return out
}

func (s *scope) evalExpr(e *dsl.Expr) (any, error) {
	if err := s.resolveGuarded(e.Names(), e.Guarded()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.Eval(s.vals)
}

func (s *scope) evalBool(e *dsl.Expr) (bool, error) {
	if err := s.resolveGuarded(e.Names(), e.Guarded()); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.Bool(s.vals)
}

func (s *scope) render(t *dsl.Template) (string, error) {
	if err := s.resolveGuarded(t.Names(), t.Guarded()); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.Render(s.vals)
}

func (s *scope) evalValue(v *dsl.Value) (any, error) {
	if err := s.resolveGuarded(valueNames(v), valueGuarded(v)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return evalValue(v, s.vals)
}

// clone copies the scope so a loop item or a retry can add variables
// without touching the host's.
func (s *scope) clone() *scope {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := newScope()
	for k, v := range s.vals {
		c.vals[k] = v
	}
	for k, v := range s.lazy {
		c.lazy[k] = v
	}
	return c
}

// evalValue turns a parsed YAML value into Go values, rendering templates.
func evalValue(v *dsl.Value, vars map[string]any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch v.Kind {
	case dsl.Null:
		return nil, nil
	case dsl.Scalar:
		return v.Scalar, nil
	case dsl.Text:
		return v.Tmpl.Eval(vars)
	case dsl.List:
		out := make([]any, 0, len(v.List))
		for _, x := range v.List {
			e, err := evalValue(x, vars)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case dsl.Map:
		out := make(map[string]any, len(v.Map))
		for _, en := range v.Map {
			e, err := evalValue(en.Value, vars)
			if err != nil {
				return nil, err
			}
			out[en.Key] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: unknown value kind %d", v.Pos, v.Kind)
}

// valueNames lists the variables a value's templates read.
func valueNames(v *dsl.Value) []string {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case dsl.Text:
		return v.Tmpl.Names()
	case dsl.List:
		var out []string
		for _, x := range v.List {
			out = append(out, valueNames(x)...)
		}
		return out
	case dsl.Map:
		var out []string
		for _, e := range v.Map {
			out = append(out, valueNames(e.Value)...)
		}
		return out
	}
	return nil
}

// valueGuarded lists the variables a value's templates read only under
// `default` or `is defined`.
func valueGuarded(v *dsl.Value) []string {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case dsl.Text:
		return v.Tmpl.Guarded()
	case dsl.List:
		var out []string
		for _, x := range v.List {
			out = append(out, valueGuarded(x)...)
		}
		return out
	case dsl.Map:
		var out []string
		for _, e := range v.Map {
			out = append(out, valueGuarded(e.Value)...)
		}
		return out
	}
	return nil
}

func lazyValue(v *dsl.Value) *lazyVal {
	if names := valueNames(v); len(names) > 0 || hasTemplate(v) {
		return &lazyVal{names: names, guarded: valueGuarded(v), eval: func(vars map[string]any) (any, error) { return evalValue(v, vars) }}
	}
	return nil
}

func hasTemplate(v *dsl.Value) bool {
	if v == nil {
		return false
	}
	switch v.Kind {
	case dsl.Text:
		return true
	case dsl.List:
		for _, x := range v.List {
			if hasTemplate(x) {
				return true
			}
		}
	case dsl.Map:
		for _, e := range v.Map {
			if hasTemplate(e.Value) {
				return true
			}
		}
	}
	return false
}

// isTemplate says whether an inventory or vars-file string needs rendering.
func isTemplate(s string) bool { return strings.Contains(s, "{{") || strings.Contains(s, "{%") }

// lazyRaw makes a lazy variable of a raw value whose strings hold {{ }};
// nil when there is nothing to render.
func lazyRaw(c *exprCache, v any, origin string) *lazyVal {
	var names, guarded []string
	var perr error
	found := false
	var walk func(any)
	walk = func(x any) {
		switch y := x.(type) {
		case string:
			if !isTemplate(y) {
				return
			}
			found = true
			t, err := c.tmpl(origin, y)
			if err != nil {
				perr = err
				return
			}
			names = append(names, t.Names()...)
			guarded = append(guarded, t.Guarded()...)
		case []any:
			for _, e := range y {
				walk(e)
			}
		case map[string]any:
			for _, e := range y {
				walk(e)
			}
		}
	}
	walk(v)
	if !found {
		return nil
	}
	return &lazyVal{names: names, guarded: guarded, eval: func(vars map[string]any) (any, error) {
		if perr != nil {
			return nil, perr
		}
		return renderRaw(c, v, vars, origin)
	}}
}

func renderRaw(c *exprCache, v any, vars map[string]any, origin string) (any, error) {
	switch y := v.(type) {
	case string:
		if !isTemplate(y) {
			return y, nil
		}
		t, err := c.tmpl(origin, y)
		if err != nil {
			return nil, err
		}
		return t.Eval(vars)
	case []any:
		out := make([]any, len(y))
		for i, e := range y {
			r, err := renderRaw(c, e, vars, origin)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(y))
		for k, e := range y {
			r, err := renderRaw(c, e, vars, origin)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}
