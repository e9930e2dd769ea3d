package dsl

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"kplay/diag"
)

// Expr is a compiled expression (when, until, changed_when, failed_when, and
// the inside of {{ }}). Compiled once at parse time, evaluated per host.
// An Expr is immutable after CompileExpr, so any number of goroutines may
// evaluate it at once.
type Expr struct {
	Src string
	Pos Pos

	prog    *vm.Program
	tr      *translation
	names   []string       // read without a guard
	guarded []string       // tested with `is defined` or `default`
	nameOff map[string]int // rune offset of each name's first strict read
	indent  int            // columns to add on lines after the first (block scalars)
}

// PosError is an error at a position in a playbook, vars or template file.
type PosError struct {
	Pos Pos
	Msg string
	Err error // the cause, if any
}

func (e *PosError) Error() string { return e.Pos.String() + ": " + e.Msg }
func (e *PosError) Unwrap() error { return e.Err }

// UndefinedError is reading a variable, or an attribute, that does not exist.
type UndefinedError struct {
	Pos  Pos
	Name string // the variable, or "r.rcc" for an attribute
	Attr bool
}

func (e *UndefinedError) Error() string {
	if e.Attr {
		i := strings.LastIndexByte(e.Name, '.')
		return fmt.Sprintf("%s: %s has no attribute %q", e.Pos, e.Name[:max(i, 0)], e.Name[i+1:])
	}
	return fmt.Sprintf("%s: undefined variable %q", e.Pos, e.Name)
}

// at returns the position of rune offset off of src, which starts at start.
// Lines after the first start at column indent+1 (a YAML block scalar's
// content is indented in the file but not in the value).
func at(start Pos, src string, off, indent int) Pos {
	p := start
	col := start.Col
	line := start.Line
	i := 0
	for _, r := range src {
		if i >= off {
			break
		}
		if r == '\n' {
			line++
			col = indent + 1
		} else {
			col++
		}
		i++
	}
	if start.Line == 0 {
		return start
	}
	p.Line, p.Col = line, col
	return p
}

// CompileExpr compiles src; pos is where src starts in its file.
// Errors carry the position of the offending token.
func CompileExpr(src string, pos Pos) (*Expr, error) {
	return compileExpr(src, pos, 0, false)
}

// compileExpr compiles src. escapes: string literals take Python's
// backslash escapes, as in Jinja template files; otherwise a backslash is
// itself, as in Ansible's playbook strings, so that the regex in
// "{{ x | regex_search('\\d+') }}" (YAML-unescaped to '\d+') reaches the
// regex engine as written.
func compileExpr(src string, pos Pos, indent int, escapes bool) (*Expr, error) {
	e := &Expr{Src: src, Pos: pos, indent: indent}
	if strings.TrimSpace(src) == "" {
		return nil, &PosError{Pos: pos, Msg: "empty expression"}
	}
	if strings.Contains(src, "{{") {
		return nil, &PosError{Pos: at(pos, src, strings.Index(src, "{{"), indent),
			Msg: "an expression here is not a template: write `x == 1`, not `{{ x }} == 1`"}
	}
	tr, err := translateJinja(src, escapes)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, &PosError{Pos: at(pos, src, se.off, indent), Msg: se.msg}
		}
		return nil, &PosError{Pos: pos, Msg: err.Error()}
	}
	e.tr = tr
	cfg := newExprConfig()
	tree, err := parser.ParseWithConfig(tr.src, cfg)
	if err != nil {
		return nil, e.wrapErr(err, "")
	}
	c := &rewriter{e: e, names: map[string]bool{}, guarded: map[string]bool{}}
	e.nameOff = map[string]int{}
	c.node(&tree.Node, false, nil)
	if c.err != nil {
		return nil, c.err
	}
	if _, err := checker.Check(tree, cfg); err != nil {
		return nil, e.wrapErr(err, "")
	}
	prog, err := compiler.Compile(tree, cfg)
	if err != nil {
		return nil, e.wrapErr(err, "")
	}
	e.prog = prog
	for n := range c.names {
		e.names = append(e.names, n)
	}
	for n := range c.guarded {
		e.guarded = append(e.guarded, n)
	}
	sort.Strings(e.names)
	sort.Strings(e.guarded)
	return e, nil
}

// posAt maps a rune offset of the original source to a file position.
func (e *Expr) posAt(off int) Pos { return at(e.Pos, e.Src, off, e.indent) }

// wrapErr turns an expr error into a PosError at the original position.
func (e *Expr) wrapErr(err error, prefix string) error {
	var ue *undefErr
	if errors.As(err, &ue) {
		return &UndefinedError{Pos: e.posAt(ue.off), Name: ue.name, Attr: ue.attr}
	}
	var fe *file.Error
	if errors.As(err, &fe) {
		msg := fe.Message
		if fe.Prev != nil {
			msg = fe.Prev.Error()
		}
		return &PosError{Pos: e.posAt(e.tr.origOffset(fe.From)), Msg: prefix + cleanExprMsg(msg), Err: fe.Prev}
	}
	return &PosError{Pos: e.Pos, Msg: prefix + err.Error(), Err: err}
}

// Eval evaluates e with vars. Reading an undefined variable is an error that
// names it and e's position, never an empty value.
func (e *Expr) Eval(vars Vars) (any, error) {
	if e == nil || e.prog == nil {
		return nil, errors.New("dsl: Eval of an expression that did not compile")
	}
	if vars == nil {
		vars = Vars{}
	}
	out, err := vm.Run(e.prog, vars)
	if err != nil {
		return nil, e.wrapErr(err, "")
	}
	if _, ok := out.(undefined); ok {
		return nil, &PosError{Pos: e.Pos, Msg: "expression is undefined"}
	}
	if kw, ok := out.(kwArg); ok {
		return nil, &PosError{Pos: e.Pos, Msg: fmt.Sprintf("keyword argument %s= outside a call", kw.name)}
	}
	return out, nil
}

// Bool evaluates e as a condition.
func (e *Expr) Bool(vars Vars) (bool, error) {
	v, err := e.Eval(vars)
	if err != nil {
		return false, err
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		// when: "{{ x }}" style results and Ansible's yes/no strings.
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "true", "yes", "on", "1":
			return true, nil
		case "false", "no", "off", "0", "":
			return false, nil
		}
	}
	return truthy(v), nil
}

// Names lists the top-level variable names e reads, for static checks. A
// name that e tests with `is defined` or `default` is not listed, even if e
// also reads it elsewhere (`x is defined and x > 1` is the usual guard).
func (e *Expr) Names() []string {
	return minus(e.names, e.guarded)
}

// Reads lists the names e reads (as Names) with where each is first read.
func (e *Expr) Reads() []NamePos {
	var out []NamePos
	for _, n := range e.Names() {
		out = append(out, NamePos{Name: n, Pos: e.posAt(e.nameOff[n])})
	}
	return out
}

// Guarded lists the names e tests with `is defined` or `default`; a task's
// `when` guards its arguments this way.
func (e *Expr) Guarded() []string { return append([]string(nil), e.guarded...) }

func minus(a, b []string) []string {
	var out []string
	for _, n := range a {
		if !contains(b, n) {
			out = append(out, n)
		}
	}
	return out
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

var exprTokenRe = regexp.MustCompile(`(?:Operator|Bracket|Identifier|Number|String)\("((?:[^"\\]|\\.)*)"\)`)

// cleanExprMsg rewrites expr's token names for people: unexpected token
// Operator("==") is unexpected "==".
func cleanExprMsg(msg string) string {
	msg = strings.ReplaceAll(msg, "unexpected token EOF", "unexpected end of the expression")
	msg = exprTokenRe.ReplaceAllString(msg, `"$1"`)
	return strings.ReplaceAll(msg, "unexpected token ", "unexpected ")
}

func suggest(name string, candidates []string) string { return diag.Suggest(name, candidates) }

// rewriter makes variable and attribute reads strict (an error when missing)
// except in the first argument of defined/default, where a missing value is
// the undefined marker instead. It also maps Jinja's `in` onto strings and
// `~` onto concatenation, and checks that every called function exists.
type rewriter struct {
	tmp     int // temporaries made so far
	e       *Expr
	names   map[string]bool
	guarded map[string]bool
	err     error
}

func (c *rewriter) fail(loc file.Location, format string, args ...any) {
	if c.err == nil {
		c.err = &PosError{Pos: c.e.posAt(c.e.tr.origOffset(loc.From)), Msg: fmt.Sprintf(format, args...)}
	}
}

func call(name string, loc file.Location, args ...ast.Node) ast.Node {
	id := &ast.IdentifierNode{Value: name}
	id.SetLocation(loc)
	n := &ast.CallNode{Callee: id, Arguments: args}
	n.SetLocation(loc)
	return n
}

func strNode(s string, loc file.Location) ast.Node {
	n := &ast.StringNode{Value: s}
	n.SetLocation(loc)
	return n
}

func intNode(i int, loc file.Location) ast.Node {
	n := &ast.IntegerNode{Value: i}
	n.SetLocation(loc)
	return n
}

// describe renders an access chain (r.stdout, hostvars[h].x) for messages.
func describe(n ast.Node) string {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return x.Value
	case *ast.MemberNode:
		base := describe(x.Node)
		if s, ok := x.Property.(*ast.StringNode); ok {
			return base + "." + s.Value
		}
		return base + "[...]"
	}
	return "value"
}

// softArgs are the functions whose first argument may be undefined.
var softArgs = map[string]bool{"defined": true, "undefined": true, "not_defined": true, "not_undefined": true, "default": true, "mandatory": true}

// node rewrites *n in place. soft: a missing variable or attribute yields the
// undefined marker. scope: names bound by let or for inside the expression.
func (c *rewriter) node(n *ast.Node, soft bool, scope []string) {
	if c.err != nil || *n == nil {
		return
	}
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		if x.Value == "$env" || contains(scope, x.Value) {
			return
		}
		loc := x.Location()
		fn := "_get"
		if soft {
			fn = "_sget"
			c.guarded[x.Value] = true
		} else {
			if !c.names[x.Value] {
				c.e.nameOff[x.Value] = c.e.tr.origOffset(loc.From)
			}
			c.names[x.Value] = true
		}
		env := &ast.IdentifierNode{Value: "$env"}
		env.SetLocation(loc)
		*n = call(fn, loc, env, strNode(x.Value, loc), intNode(c.e.tr.origOffset(loc.From), loc))
	case *ast.MemberNode:
		desc := describe(x.Node)
		c.node(&x.Node, soft && !x.Optional, scope)
		// An index expression is always read strictly: in
		// hostvars[h].x | default(1), h must exist.
		c.node(&x.Property, false, scope)
		if _, ok := x.Node.(*ast.PointerNode); ok || x.Optional {
			return
		}
		loc := x.Location()
		fn := "_attr"
		if soft {
			fn = "_sattr"
		}
		if s, ok := x.Property.(*ast.StringNode); ok {
			desc += "." + s.Value
		} else {
			desc += "[...]"
		}
		*n = call(fn, loc, x.Node, x.Property, intNode(c.e.tr.origOffset(loc.From), loc), strNode(desc, loc))
	case *ast.CallNode:
		switch callee := x.Callee.(type) {
		case *ast.IdentifierNode:
			name := callee.Value
			if _, ok := exprFuncs[strings.TrimPrefix(name, "not_")]; !ok {
				var known []string
				for k := range exprFuncs {
					if !strings.HasPrefix(k, "_") {
						known = append(known, k)
					}
				}
				msg := fmt.Sprintf("unknown function or filter %q", name)
				if s := suggest(name, known); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.fail(callee.Location(), "%s", msg)
				return
			}
			for i := range x.Arguments {
				c.node(&x.Arguments[i], i == 0 && softArgs[name], scope)
			}
			if strings.HasPrefix(name, "not_") {
				inner := call(strings.TrimPrefix(name, "not_"), x.Location(), x.Arguments...)
				*n = call("_not", x.Location(), inner)
			}
		case *ast.MemberNode:
			// Python methods: s.startswith('a'), d.items(), d.get('k').
			c.node(&callee.Node, false, scope)
			for i := range x.Arguments {
				c.node(&x.Arguments[i], false, scope)
			}
			prop, ok := callee.Property.(*ast.StringNode)
			if !ok {
				c.fail(x.Location(), "cannot call a computed method")
				return
			}
			if _, ok := pyMethods[prop.Value]; !ok {
				var known []string
				for k := range pyMethods {
					known = append(known, k)
				}
				msg := fmt.Sprintf("unknown method %q", prop.Value)
				if s := suggest(prop.Value, known); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.fail(prop.Location(), "%s: use a filter, e.g. `x | lower`", msg)
				return
			}
			loc := x.Location()
			args := append([]ast.Node{callee.Node, strNode(prop.Value, loc)}, x.Arguments...)
			*n = call("_method", loc, args...)
		default:
			c.fail(x.Location(), "cannot call this value")
		}
	case *ast.BinaryNode:
		c.node(&x.Left, false, scope)
		c.node(&x.Right, false, scope)
		loc := x.Location()
		switch {
		case x.Operator == "and" || x.Operator == "&&" || x.Operator == "or" || x.Operator == "||":
			// Python's and/or: any values, truthiness, the deciding operand
			// is the result (`x or 'fallback'`); still short-circuit. The
			// left side is evaluated once, into a variable:
			// let _lhsN = left; _truthy(_lhsN) ? right : _lhsN.
			c.tmp++
			name := fmt.Sprintf("_lhs%d", c.tmp)
			ref := func() ast.Node {
				id := &ast.IdentifierNode{Value: name}
				id.SetLocation(loc)
				return id
			}
			cn := &ast.ConditionalNode{Ternary: true, Cond: call("_truthy", loc, ref()), Exp1: x.Right, Exp2: ref()}
			if x.Operator == "or" || x.Operator == "||" {
				cn.Exp1, cn.Exp2 = ref(), x.Right
			}
			cn.SetLocation(loc)
			decl := &ast.VariableDeclaratorNode{Name: name, Value: x.Left, Expr: cn}
			decl.SetLocation(loc)
			*n = decl
		case x.Operator == "in":
			*n = call("_in", loc, x.Left, x.Right)
		case x.Operator == "/" && c.e.tr.floors[loc.From]:
			*n = call("_floordiv", loc, x.Left, x.Right)
		case x.Operator == "+" && c.e.tr.cats[loc.From]:
			*n = call("_cat", loc, x.Left, x.Right)
		case x.Operator == "+":
			*n = call("_add", loc, x.Left, x.Right)
		}
	case *ast.UnaryNode:
		c.node(&x.Node, false, scope)
		if x.Operator == "not" || x.Operator == "!" {
			*n = call("_not", x.Location(), x.Node)
		}
	case *ast.ChainNode:
		c.node(&x.Node, soft, scope)
	case *ast.SliceNode:
		c.node(&x.Node, false, scope)
		c.node(&x.From, false, scope)
		c.node(&x.To, false, scope)
	case *ast.BuiltinNode:
		for i := range x.Arguments {
			c.node(&x.Arguments[i], false, scope)
		}
	case *ast.PredicateNode:
		c.node(&x.Node, false, scope)
	case *ast.VariableDeclaratorNode:
		c.node(&x.Value, false, scope)
		c.node(&x.Expr, false, append(scope[:len(scope):len(scope)], x.Name))
	case *ast.SequenceNode:
		for i := range x.Nodes {
			c.node(&x.Nodes[i], false, scope)
		}
	case *ast.ConditionalNode:
		c.node(&x.Cond, false, scope)
		c.node(&x.Exp1, false, scope)
		c.node(&x.Exp2, false, scope)
		// c ? a : b with any value as c, as Python's truth.
		x.Cond = call("_truthy", x.Cond.Location(), x.Cond)
	case *ast.ArrayNode:
		for i := range x.Nodes {
			c.node(&x.Nodes[i], false, scope)
		}
	case *ast.MapNode:
		for i := range x.Pairs {
			c.node(&x.Pairs[i], false, scope)
		}
	case *ast.PairNode:
		// The translation wrote Jinja's expression keys as (key).
		c.node(&x.Key, false, scope)
		c.node(&x.Value, false, scope)
	}
}

func asPosError(err error, target **PosError) bool { return errors.As(err, target) }
