package dsl

import "errors"

// Expr is a compiled expression (when, until, changed_when, failed_when, and
// the inside of {{ }}). Compiled once at parse time, evaluated per host.
type Expr struct {
	Src string
	Pos Pos
}

// CompileExpr compiles src; pos is where src starts in its file.
// Errors carry the position of the offending token.
func CompileExpr(src string, pos Pos) (*Expr, error) {
	return nil, errors.New("dsl: CompileExpr: not written yet")
}

// Eval evaluates e with vars. Reading an undefined variable is an error that
// names it and e's position, never an empty value.
func (e *Expr) Eval(vars Vars) (any, error) { return nil, errors.New("dsl: Eval: not written yet") }

// Bool evaluates e as a condition.
func (e *Expr) Bool(vars Vars) (bool, error) { return false, errors.New("dsl: Bool: not written yet") }

// Names lists the top-level variable names e reads, for static checks.
func (e *Expr) Names() []string { return nil }

// Template is a compiled template: text with {{ expr }}, {% if %}, {% for %}.
type Template struct {
	Src string
	Pos Pos
}

// ParseTemplate compiles a template; pos is where src starts.
func ParseTemplate(src string, pos Pos) (*Template, error) {
	return nil, errors.New("dsl: ParseTemplate: not written yet")
}

// Render renders t to text.
func (t *Template) Render(vars Vars) (string, error) {
	return "", errors.New("dsl: Render: not written yet")
}

// Eval renders t, except that a template that is exactly one "{{ expr }}"
// returns the expression's value with its type (a list stays a list).
func (t *Template) Eval(vars Vars) (any, error) { return nil, errors.New("dsl: Eval: not written yet") }

// Names lists the top-level variable names t reads, for static checks.
func (t *Template) Names() []string { return nil }
