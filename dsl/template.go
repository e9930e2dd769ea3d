package dsl

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// Template is a compiled template: text with {{ expr }}, {% if %}, {% for %}.
// Like an Expr it is immutable once parsed and safe to render from many
// goroutines at once.
type Template struct {
	Src string
	Pos Pos

	nodes   []tnode
	indent  int
	escapes bool // string literals take Python's escapes (template files)
}

// tnode is one piece of a parsed template.
type tnode interface{ isTNode() }

type textNode struct{ text string }

type outNode struct{ expr *Expr }

type ifNode struct {
	conds  []*Expr
	bodies [][]tnode // one per cond
	els    []tnode
}

type forNode struct {
	pos   Pos
	vars  []string
	iter  *Expr
	cond  *Expr // {% for x in xs if cond %}
	body  []tnode
	els   []tnode
	bound []string
}

type setNode struct {
	name string
	expr *Expr
}

func (textNode) isTNode() {}
func (outNode) isTNode()  {}
func (*ifNode) isTNode()  {}
func (*forNode) isTNode() {}
func (setNode) isTNode()  {}

// ttok is a lexed piece of a template: text, or a tag with its inner source.
type ttok struct {
	kind   byte // 't' text, '{' output, '%' statement, '#' comment
	text   string
	off    int // rune offset of the inner text (or the text) in Src
	tagOff int // rune offset of the opening {{ / {%
	trimL  bool
	trimR  bool
	keepNL bool
}

// ParseTemplate compiles a template from a playbook or vars file; pos is
// where src starts. As in Ansible, a backslash in a string literal inside
// {{ }} is itself (YAML has already had its say on escapes).
func ParseTemplate(src string, pos Pos) (*Template, error) {
	return parseTemplate(src, pos, 0, false)
}

// ParseTemplateFile compiles the text of a template file (the template
// module's src): string literals inside {{ }} take Python's backslash
// escapes, as Jinja gives them there.
func ParseTemplateFile(src string, pos Pos) (*Template, error) {
	return parseTemplate(src, pos, 0, true)
}

// LoadTemplateFile reads and compiles a template file; errors carry the
// file's own line and column.
func LoadTemplateFile(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseTemplateFile(string(b), Pos{File: path, Line: 1, Col: 1})
}

// HasTemplate reports whether s holds any template markup.
func HasTemplate(s string) bool {
	if strings.Contains(s, "{{") || strings.Contains(s, "{%") {
		return true
	}
	i := strings.Index(s, "{#")
	return i >= 0 && strings.Contains(s[i:], "#}")
}

func parseTemplate(src string, pos Pos, indent int, escapes bool) (*Template, error) {
	t := &Template{Src: src, Pos: pos, indent: indent, escapes: escapes}
	toks, err := t.lex()
	if err != nil {
		return nil, err
	}
	p := &tparser{t: t, toks: toks}
	nodes, end, err := p.parse(nil)
	if err != nil {
		return nil, err
	}
	if end != nil {
		return nil, t.errAt(end.tagOff, "unexpected {%% %s %%}", strings.Fields(end.text)[0])
	}
	t.nodes = nodes
	return t, nil
}

func (t *Template) posAt(off int) Pos { return at(t.Pos, t.Src, off, t.indent) }

func (t *Template) errAt(off int, format string, args ...any) error {
	return &PosError{Pos: t.posAt(off), Msg: fmt.Sprintf(format, args...)}
}

// lex splits Src into text and tags, applying whitespace control: {%- and
// -%} strip the whitespace beside them, and, as in Ansible's template module
// (trim_blocks), the first newline after a {% %} or {# #} tag is dropped.
func (t *Template) lex() ([]ttok, error) {
	rs := []rune(t.Src)
	var toks []ttok
	textStart := 0
	i := 0
	for i < len(rs) {
		if rs[i] != '{' || i+1 >= len(rs) || (rs[i+1] != '{' && rs[i+1] != '%' && rs[i+1] != '#') {
			i++
			continue
		}
		kind := rs[i+1]
		if i > textStart {
			toks = append(toks, ttok{kind: 't', text: string(rs[textStart:i]), off: textStart})
		}
		tagOff := i
		j := i + 2
		tok := ttok{kind: byte(kind), tagOff: tagOff}
		if j < len(rs) && rs[j] == '-' {
			tok.trimL = true
			j++
		} else if j < len(rs) && rs[j] == '+' && kind == '%' {
			j++ // {%+ turns lstrip_blocks off, which kplay never turns on
		}
		closeCh := map[rune]rune{'{': '}', '%': '%', '#': '#'}[kind]
		end := -1
		depth := 0
		var quote rune
		for k := j; k+1 < len(rs); k++ {
			c := rs[k]
			if kind == '#' {
				if c == '#' && rs[k+1] == '}' {
					end = k
					break
				}
				continue
			}
			if quote != 0 {
				if c == '\\' {
					k++
				} else if c == quote {
					quote = 0
				}
				continue
			}
			switch c {
			case '\'', '"':
				quote = c
				continue
			case '{', '[', '(':
				depth++
				continue
			}
			if depth == 0 && c == closeCh && rs[k+1] == '}' {
				end = k
				break
			}
			if c == '}' || c == ']' || c == ')' {
				depth--
			}
		}
		if end < 0 && kind == '#' {
			// An unclosed {# is text (shell's ${#array[@]}), not an error.
			textStart = i
			i += 2
			continue
		}
		if end < 0 {
			open := map[rune]string{'{': "{{", '%': "{%", '#': "{#"}[kind]
			close := map[rune]string{'{': "}}", '%': "%}", '#': "#}"}[kind]
			return nil, t.errAt(tagOff, "%s is not closed: missing %s", open, close)
		}
		innerEnd := end
		if innerEnd > j && rs[innerEnd-1] == '-' {
			tok.trimR = true
			innerEnd--
		} else if innerEnd > j && rs[innerEnd-1] == '+' && kind == '%' {
			tok.keepNL = true // +%} keeps the newline trim_blocks would drop
			innerEnd--
		}
		tok.text = string(rs[j:innerEnd])
		tok.off = j
		toks = append(toks, tok)
		i = end + 2
		textStart = i
	}
	if textStart < len(rs) {
		toks = append(toks, ttok{kind: 't', text: string(rs[textStart:]), off: textStart})
	}
	// Whitespace control.
	for k := range toks {
		if toks[k].kind != 't' {
			continue
		}
		if k > 0 {
			prev := toks[k-1]
			if prev.trimR {
				toks[k].text = strings.TrimLeft(toks[k].text, " \t\r\n")
			} else if (prev.kind == '%' || prev.kind == '#') && !prev.keepNL {
				toks[k].text = strings.TrimPrefix(strings.TrimPrefix(toks[k].text, "\r"), "\n")
			}
		}
		if k+1 < len(toks) && toks[k+1].trimL {
			toks[k].text = strings.TrimRight(toks[k].text, " \t\r\n")
		}
	}
	return toks, nil
}

type tparser struct {
	t    *Template
	toks []ttok
	i    int
}

// exprIn compiles the expression held in a tag, starting at rune offset off.
func (p *tparser) exprIn(src string, off int) (*Expr, error) {
	return compileExpr(src, p.t.posAt(off), p.t.indent, p.t.escapes)
}

// parse reads nodes until one of the end keywords; it returns the tag that
// ended the run (nil at end of input).
func (p *tparser) parse(ends []string) ([]tnode, *ttok, error) {
	var nodes []tnode
	for p.i < len(p.toks) {
		tok := p.toks[p.i]
		p.i++
		switch tok.kind {
		case 't':
			if tok.text != "" {
				nodes = append(nodes, textNode{tok.text})
			}
		case '#':
		case '{':
			if strings.TrimSpace(tok.text) == "" {
				return nil, nil, p.t.errAt(tok.tagOff, "empty {{ }}")
			}
			e, err := p.exprIn(tok.text, tok.off)
			if err != nil {
				return nil, nil, err
			}
			nodes = append(nodes, outNode{e})
		case '%':
			fields := strings.Fields(tok.text)
			if len(fields) == 0 {
				return nil, nil, p.t.errAt(tok.tagOff, "empty {%% %%} tag")
			}
			kw := fields[0]
			if contains(ends, kw) {
				return nodes, &tok, nil
			}
			// rest is the source after the keyword, and its offset.
			lead := len([]rune(tok.text)) - len([]rune(strings.TrimLeft(tok.text, " \t\r\n")))
			restOff := tok.off + lead + len([]rune(kw))
			rest := string([]rune(tok.text)[lead+len([]rune(kw)):])
			switch kw {
			case "if":
				n, err := p.parseIf(rest, restOff, tok)
				if err != nil {
					return nil, nil, err
				}
				nodes = append(nodes, n)
			case "for":
				n, err := p.parseFor(rest, restOff, tok)
				if err != nil {
					return nil, nil, err
				}
				nodes = append(nodes, n)
			case "set":
				eq := strings.Index(rest, "=")
				if eq < 0 {
					return nil, nil, p.t.errAt(tok.tagOff, "{%% set %%} needs `name = value`")
				}
				name := strings.TrimSpace(rest[:eq])
				if !isIdent(name) {
					return nil, nil, p.t.errAt(restOff, "{%% set %%}: %q is not a variable name", name)
				}
				e, err := p.exprIn(rest[eq+1:], restOff+len([]rune(rest[:eq+1])))
				if err != nil {
					return nil, nil, err
				}
				nodes = append(nodes, setNode{name, e})
			case "raw":
				var b strings.Builder
				closed := false
				for p.i < len(p.toks) {
					rt := p.toks[p.i]
					p.i++
					if rt.kind == '%' && strings.TrimSpace(rt.text) == "endraw" {
						closed = true
						break
					}
					switch rt.kind {
					case 't':
						b.WriteString(rt.text)
					default:
						b.WriteString(string([]rune(p.t.Src)[rt.tagOff : rt.off+len([]rune(rt.text))]))
						b.WriteString(map[byte]string{'{': "}}", '%': "%}", '#': "#}"}[rt.kind])
					}
				}
				if !closed {
					return nil, nil, p.t.errAt(tok.tagOff, "{%% raw %%} is not closed: missing {%% endraw %%}")
				}
				nodes = append(nodes, textNode{b.String()})
			case "elif", "else", "endif", "endfor":
				return nil, nil, p.t.errAt(tok.tagOff, "unexpected {%% %s %%}", kw)
			default:
				known := []string{"if", "elif", "else", "endif", "for", "endfor", "set", "raw", "endraw"}
				msg := fmt.Sprintf("unknown tag {%% %s %%}", kw)
				if s := suggest(kw, known); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					msg += " (kplay templates have if/elif/else, for, set and raw)"
				}
				return nil, nil, p.t.errAt(tok.off+lead, "%s", msg)
			}
		}
	}
	return nodes, nil, nil
}

func (p *tparser) parseIf(cond string, condOff int, open ttok) (tnode, error) {
	n := &ifNode{}
	for {
		if strings.TrimSpace(cond) == "" {
			return nil, p.t.errAt(open.tagOff, "{%% if %%} needs a condition")
		}
		e, err := p.exprIn(cond, condOff)
		if err != nil {
			return nil, err
		}
		body, end, err := p.parse([]string{"elif", "else", "endif"})
		if err != nil {
			return nil, err
		}
		n.conds = append(n.conds, e)
		n.bodies = append(n.bodies, body)
		if end == nil {
			return nil, p.t.errAt(open.tagOff, "{%% if %%} is not closed: missing {%% endif %%}")
		}
		kw := strings.Fields(end.text)[0]
		switch kw {
		case "elif":
			lead := len([]rune(end.text)) - len([]rune(strings.TrimLeft(end.text, " \t\r\n")))
			cond = string([]rune(end.text)[lead+4:])
			condOff = end.off + lead + 4
			open = *end
			continue
		case "else":
			els, end2, err := p.parse([]string{"endif", "elif", "else"})
			if err != nil {
				return nil, err
			}
			if end2 == nil {
				return nil, p.t.errAt(open.tagOff, "{%% if %%} is not closed: missing {%% endif %%}")
			}
			if k := strings.Fields(end2.text)[0]; k != "endif" {
				return nil, p.t.errAt(end2.tagOff, "{%% %s %%} after {%% else %%}", k)
			}
			n.els = els
		}
		return n, nil
	}
}

func (p *tparser) parseFor(rest string, restOff int, open ttok) (tnode, error) {
	in := strings.Index(rest, " in ")
	if in < 0 || strings.TrimSpace(rest[:in]) == "" {
		return nil, p.t.errAt(open.tagOff, "{%% for %%} needs `name in list`")
	}
	n := &forNode{pos: p.t.posAt(open.tagOff)}
	for _, v := range strings.Split(rest[:in], ",") {
		v = strings.TrimSpace(v)
		if !isIdent(v) {
			return nil, p.t.errAt(restOff, "{%% for %%}: %q is not a variable name", v)
		}
		n.vars = append(n.vars, v)
	}
	iterSrc := rest[in+4:]
	iterOff := restOff + len([]rune(rest[:in+4]))
	// {% for x in xs if cond %}: a top-level " if " ends the list.
	if k := topLevelIf(iterSrc); k >= 0 {
		ce, err := p.exprIn(iterSrc[k+4:], iterOff+len([]rune(iterSrc[:k+4])))
		if err != nil {
			return nil, err
		}
		n.cond = ce
		iterSrc = iterSrc[:k]
	}
	e, err := p.exprIn(iterSrc, iterOff)
	if err != nil {
		return nil, err
	}
	n.iter = e
	body, end, err := p.parse([]string{"else", "endfor"})
	if err != nil {
		return nil, err
	}
	if end == nil {
		return nil, p.t.errAt(open.tagOff, "{%% for %%} is not closed: missing {%% endfor %%}")
	}
	n.body = body
	if strings.Fields(end.text)[0] == "else" {
		els, end2, err := p.parse([]string{"endfor"})
		if err != nil {
			return nil, err
		}
		if end2 == nil {
			return nil, p.t.errAt(open.tagOff, "{%% for %%} is not closed: missing {%% endfor %%}")
		}
		n.els = els
	}
	return n, nil
}

// topLevelIf finds " if " outside strings and brackets.
func topLevelIf(s string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			quote = c
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ' ':
			if depth == 0 && strings.HasPrefix(s[i:], " if ") {
				return i
			}
		}
	}
	return -1
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

// Render renders t to text.
func (t *Template) Render(vars Vars) (string, error) {
	var b strings.Builder
	if vars == nil {
		vars = Vars{}
	}
	// set and for bind names in a scope of their own; vars is never written.
	if err := t.render(&b, t.nodes, &scope{vars: vars}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// scope is the variables a part of a template sees. owned says vars is a
// copy that {% set %} may write; the caller's map is never written.
type scope struct {
	vars  Vars
	owned bool
}

func (t *Template) render(b *strings.Builder, nodes []tnode, sc *scope) error {
	for _, n := range nodes {
		vars := sc.vars
		switch n := n.(type) {
		case textNode:
			b.WriteString(n.text)
		case outNode:
			v, err := n.expr.Eval(vars)
			if err != nil {
				return err
			}
			b.WriteString(toText(v))
		case setNode:
			v, err := n.expr.Eval(vars)
			if err != nil {
				return err
			}
			// As in Jinja, {% set %} inside an if is seen after it; inside a
			// for it is not.
			if !sc.owned {
				sc.vars = copyVars(sc.vars)
				sc.owned = true
			}
			sc.vars[n.name] = v
		case *ifNode:
			done := false
			for i, c := range n.conds {
				v, err := c.Eval(vars)
				if err != nil {
					return err
				}
				if truthy(v) {
					if err := t.render(b, n.bodies[i], sc); err != nil {
						return err
					}
					done = true
					break
				}
			}
			if !done {
				if err := t.render(b, n.els, sc); err != nil {
					return err
				}
			}
		case *forNode:
			if err := t.renderFor(b, n, vars); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyVars(v Vars) Vars {
	out := make(Vars, len(v)+4)
	for k, x := range v {
		out[k] = x
	}
	return out
}

func (t *Template) renderFor(b *strings.Builder, n *forNode, vars Vars) error {
	v, err := n.iter.Eval(vars)
	if err != nil {
		return err
	}
	var items []any
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			items = append(items, k)
		}
	case string:
		for _, r := range x {
			items = append(items, string(r))
		}
	case nil:
	default:
		l, ok := toList(v)
		if !ok {
			return &PosError{Pos: n.iter.Pos, Msg: fmt.Sprintf("{%% for %%} cannot loop over %s", typeName(v))}
		}
		items = l
	}
	lv := copyVars(vars)
	bind := func(item any) error {
		if len(n.vars) == 1 {
			lv[n.vars[0]] = item
			return nil
		}
		l, ok := toList(item)
		if !ok || len(l) != len(n.vars) {
			return &PosError{Pos: n.pos, Msg: fmt.Sprintf("{%% for %s %%}: cannot unpack %s into %d names", strings.Join(n.vars, ", "), typeName(item), len(n.vars))}
		}
		for i, name := range n.vars {
			lv[name] = l[i]
		}
		return nil
	}
	if n.cond != nil {
		var kept []any
		for _, item := range items {
			if err := bind(item); err != nil {
				return err
			}
			ok, err := n.cond.Eval(lv)
			if err != nil {
				return err
			}
			if truthy(ok) {
				kept = append(kept, item)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		return t.render(b, n.els, &scope{vars: vars})
	}
	for i, item := range items {
		if err := bind(item); err != nil {
			return err
		}
		lv["loop"] = map[string]any{
			"index": i + 1, "index0": i, "first": i == 0, "last": i == len(items)-1,
			"length": len(items), "revindex": len(items) - i, "revindex0": len(items) - i - 1,
		}
		if err := t.render(b, n.body, &scope{vars: lv, owned: true}); err != nil {
			return err
		}
	}
	return nil
}

// Eval renders t, except that a template that is exactly one "{{ expr }}"
// returns the expression's value with its type (a list stays a list).
func (t *Template) Eval(vars Vars) (any, error) {
	if len(t.nodes) == 1 {
		if o, ok := t.nodes[0].(outNode); ok {
			return o.expr.Eval(vars)
		}
	}
	return t.Render(vars)
}

// Exprs returns every expression in t, in source order.
func (t *Template) Exprs() []*Expr {
	var out []*Expr
	var walk func([]tnode)
	walk = func(ns []tnode) {
		for _, n := range ns {
			switch n := n.(type) {
			case outNode:
				out = append(out, n.expr)
			case setNode:
				out = append(out, n.expr)
			case *ifNode:
				for i, c := range n.conds {
					out = append(out, c)
					walk(n.bodies[i])
				}
				walk(n.els)
			case *forNode:
				out = append(out, n.iter)
				if n.cond != nil {
					out = append(out, n.cond)
				}
				walk(n.body)
				walk(n.els)
			}
		}
	}
	walk(t.nodes)
	return out
}

// bound lists the names t binds itself ({% set %}, {% for %} and loop).
func (t *Template) bound() []string {
	seen := map[string]bool{}
	var walk func([]tnode)
	walk = func(ns []tnode) {
		for _, n := range ns {
			switch n := n.(type) {
			case setNode:
				seen[n.name] = true
			case *ifNode:
				for _, b := range n.bodies {
					walk(b)
				}
				walk(n.els)
			case *forNode:
				seen["loop"] = true
				for _, v := range n.vars {
					seen[v] = true
				}
				walk(n.body)
				walk(n.els)
			}
		}
	}
	walk(t.nodes)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	return out
}

// Names lists the top-level variable names t reads, for static checks:
// names t binds itself and names it tests with `is defined` or `default`
// anywhere are left out.
func (t *Template) Names() []string {
	bound := t.bound()
	var guarded []string
	seen := map[string]bool{}
	for _, e := range t.Exprs() {
		guarded = append(guarded, e.guarded...)
	}
	var out []string
	for _, e := range t.Exprs() {
		for _, n := range e.names {
			if seen[n] || contains(bound, n) || contains(guarded, n) {
				continue
			}
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Guarded lists the names t tests with `is defined` or `default`.
func (t *Template) Guarded() []string {
	var out []string
	for _, e := range t.Exprs() {
		out = append(out, e.guarded...)
	}
	return out
}

// NamePos is a variable read and where.
type NamePos struct {
	Name string
	Pos  Pos
}

// Reads lists the names t reads (as Names) with where each is first read.
func (t *Template) Reads() []NamePos {
	names := t.Names()
	var out []NamePos
	for _, e := range t.Exprs() {
		for _, n := range e.names {
			if contains(names, n) {
				out = append(out, NamePos{n, e.posAt(e.nameOff[n])})
				names = minus(names, []string{n})
			}
		}
	}
	return out
}
