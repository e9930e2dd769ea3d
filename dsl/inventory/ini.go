package inventory

import (
	"fmt"
	"regexp"
	"strings"

	"kplay/diag"
)

// Ansible's INI grammar (plugins/inventory/ini.py): a section header names a
// group and what its lines hold; before any header, lines are hosts of
// ungrouped.
var (
	reSection   = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`)
	reGroupName = regexp.MustCompile(`^([^:\]\s]+)\s*(?:#.*)?$`)
)

var sectionKinds = []string{"hosts", "vars", "children"}

type iniParser struct {
	inv       *Inventory
	file, abs string
	ds        *diag.Diagnostics
	// groups named before they are declared: [g:vars] for a group not yet
	// seen, or a child in [p:children] not yet seen. Ansible allows both
	// when the group is declared later in the same file.
	pending map[string]*pendingDecl
	order   []string
}

type pendingDecl struct {
	kind string // "vars" or "children"
	pos  diag.Pos
	refs []childRef // kind children: who named it
}

type childRef struct {
	parent *group
	pos    diag.Pos
}

func newINIParser(inv *Inventory, file, abs string, ds *diag.Diagnostics) *iniParser {
	return &iniParser{inv: inv, file: file, abs: abs, ds: ds, pending: map[string]*pendingDecl{}}
}

func (p *iniParser) pos(line, col int) diag.Pos { return diag.Pos{File: p.file, Line: line, Col: col} }

func (p *iniParser) parse(data []byte) {
	cur := p.inv.groupByID["ungrouped"]
	state := "hosts"
	seen := map[string]int{} // hosts of the current section -> line
	for n, raw := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		raw = strings.TrimSuffix(raw, "\r")
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		indent := strings.Index(raw, line)
		col := indent + 1
		if m := reSection.FindStringSubmatch(line); m != nil {
			name, kind := m[1], m[2]
			seen = map[string]int{}
			if kind == "" {
				kind = "hosts"
			}
			if kind != "hosts" && kind != "vars" && kind != "children" {
				msg := fmt.Sprintf("section [%s:%s] has unknown type %q: want hosts, vars or children", name, kind, kind)
				if s := suggest(kind, sectionKinds); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				p.ds.Addf(p.pos(lineNo, col+len(name)+2), "%s", msg)
				state = "skip"
				continue
			}
			state = kind
			if p.inv.groupByID[name] == nil {
				if kind == "vars" && p.pending[name] == nil {
					p.addPending(name, &pendingDecl{kind: "vars", pos: p.pos(lineNo, col+1)})
				}
			}
			cur = p.inv.addGroup(name, p.pos(lineNo, col+1))
			if d := p.pending[name]; d != nil && kind != "vars" {
				if d.kind == "children" {
					p.resolvePending(name)
				} else {
					delete(p.pending, name)
				}
			}
			continue
		}
		if line[0] == '[' && line[len(line)-1] == ']' {
			p.ds.Addf(p.pos(lineNo, col), "malformed section header %s: want [group], [group:vars] or [group:children], with no spaces in the name", line)
			state = "skip"
			continue
		}
		switch state {
		case "skip":
			// the lines of a section whose header was refused
		case "hosts":
			p.hostLine(raw, lineNo, cur, seen)
		case "vars":
			k, v, ok := strings.Cut(line, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case !ok:
				p.ds.Addf(p.pos(lineNo, col), "expected key=value in [%s:vars], got %q", cur.name, line)
			case k == "":
				p.ds.Addf(p.pos(lineNo, col), "empty variable name in [%s:vars]", cur.name)
			default:
				p.setGroupVar(cur, k, iniValue(v), p.pos(lineNo, col))
			}
		case "children":
			m := reGroupName.FindStringSubmatch(line)
			if m == nil {
				p.ds.Addf(p.pos(lineNo, col), "expected a group name in [%s:children], got %q", cur.name, line)
				continue
			}
			child, pos := m[1], p.pos(lineNo, col)
			if g := p.inv.groupByID[child]; g != nil {
				p.inv.addChild(cur, g, pos, p.ds)
				continue
			}
			if d := p.pending[child]; d != nil && d.kind == "children" {
				d.refs = append(d.refs, childRef{cur, pos})
			} else if d == nil {
				p.addPending(child, &pendingDecl{kind: "children", pos: pos, refs: []childRef{{cur, pos}}})
			}
		}
	}
	p.finish()
}

func (p *iniParser) addPending(name string, d *pendingDecl) {
	p.pending[name] = d
	p.order = append(p.order, name)
}

// resolvePending adds a group declared late as a child of every group that
// named it, as Ansible's _add_pending_children does.
func (p *iniParser) resolvePending(name string) {
	d := p.pending[name]
	delete(p.pending, name)
	g := p.inv.groupByID[name]
	for _, r := range d.refs {
		p.inv.addChild(r.parent, g, r.pos, p.ds)
		if pd := p.pending[r.parent.name]; pd != nil && pd.kind == "children" {
			p.resolvePending(r.parent.name)
		}
	}
}

// finish reports every group still undeclared at the end of the file.
func (p *iniParser) finish() {
	var known []string
	for _, g := range p.inv.groups {
		if p.pending[g.name] == nil {
			known = append(known, g.name)
		}
	}
	for _, name := range p.order {
		d := p.pending[name]
		if d == nil {
			continue
		}
		hint := ""
		if s := diag.Suggest(name, known); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		if d.kind == "vars" {
			p.ds.Addf(d.pos, "section [%s:vars] is for group %q, which is not defined in this inventory%s", name, name, hint)
			continue
		}
		for _, r := range d.refs {
			p.ds.Addf(r.pos, "unknown child group %q in [%s:children]%s", name, r.parent.name, hint)
		}
	}
}

func (p *iniParser) setGroupVar(g *group, k string, v any, pos diag.Pos) {
	if k == "ansible_group_priority" {
		n, ok := toInt(v)
		if !ok {
			p.ds.Addf(pos, "ansible_group_priority must be a number, got %q", fmt.Sprint(v))
			return
		}
		g.priority = n
		return
	}
	g.vars[k] = v
	g.varPos[k] = pos
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		if n, ok := pyInt(strings.TrimSpace(x)); ok {
			return n, true
		}
	}
	return 0, false
}

// hostLine parses "pattern [key=value ...]" (shell-quoted, # comments).
func (p *iniParser) hostLine(raw string, lineNo int, g *group, seen map[string]int) {
	toks, err := shlexSplit(raw)
	if err != nil {
		p.ds.Addf(p.pos(lineNo, err.col), "%s", err.msg)
		return
	}
	if len(toks) == 0 {
		return
	}
	first := toks[0]
	names, port, ok := expandHostPattern(first.text, p.pos(lineNo, first.col), p.ds)
	if !ok {
		return
	}
	vars := map[string]any{}
	vpos := map[string]diag.Pos{}
	var keys []string
	for _, t := range toks[1:] {
		k, v, ok := strings.Cut(t.text, "=")
		if !ok {
			p.ds.Addf(p.pos(lineNo, t.col), "expected key=value host variable, got %q", t.text)
			continue
		}
		if k == "" {
			p.ds.Addf(p.pos(lineNo, t.col), "empty variable name in %q", t.text)
			continue
		}
		if _, dup := vars[k]; !dup {
			keys = append(keys, k)
		}
		vars[k] = iniValue(v)
		vpos[k] = p.pos(lineNo, t.col)
	}
	if len(p.inv.hosts)+len(names) > maxHosts {
		p.ds.Addf(p.pos(lineNo, first.col), "the inventory has more than %d hosts", maxHosts)
		return
	}
	for _, name := range names {
		pos := p.pos(lineNo, first.col)
		if prev, dup := seen[name]; dup {
			p.ds.Addf(pos, "duplicate host %q in [%s] (first listed at line %d)", name, g.name, prev)
		} else {
			seen[name] = lineNo
		}
		p.inv.setHost(name, pos, p.abs, g, port, keys, vars, vpos)
	}
}

// setHost adds a host to g with its inline vars; port is only taken when
// the host is new, as Ansible does. vpos says where each var was set.
func (inv *Inventory) setHost(name string, pos diag.Pos, src string, g *group, port int, keys []string, vars map[string]any, vpos map[string]diag.Pos) {
	n := len(inv.hosts)
	h := inv.addHost(name, pos, src, g)
	if port > 0 && len(inv.hosts) > n {
		h.vars["ansible_port"] = port
		h.varPos["ansible_port"] = pos
	}
	for _, k := range keys {
		h.vars[k] = vars[k]
		h.varPos[k] = vpos[k]
	}
}

// expandHostPattern splits a host pattern into host names and a port,
// reporting a bad range or a dangling ':' at pos.
func expandHostPattern(pattern string, pos diag.Pos, ds *diag.Diagnostics) ([]string, int, bool) {
	host, port := splitHostPort(pattern)
	if strings.HasSuffix(strings.TrimSpace(pattern), ":") && port == 0 {
		ds.Addf(pos, "host %q ends in ':', which is kept for a port (host:port)", pattern)
		return nil, 0, false
	}
	if host == "---" {
		ds.Addf(pos, "host \"---\": this looks like a YAML document start in an INI inventory")
		return nil, 0, false
	}
	if host == "" {
		ds.Addf(pos, "empty host name")
		return nil, 0, false
	}
	if !strings.Contains(host, "[") {
		return []string{host}, port, true
	}
	names, err := expandHostRange(host)
	if err != nil {
		off := 0
		if re, ok := err.(*rangeError); ok {
			off = re.Offset + strings.Index(pattern, host)
		}
		pos.Col += max(off, 0)
		ds.Addf(pos, "%s", err.Error())
		return nil, 0, false
	}
	return names, port, true
}

type shlexToken struct {
	text string
	col  int // 1-based column of the token's first character
}

type shlexError struct {
	col int
	msg string
}

// shlexSplit splits a line as Python's shlex.split(line, comments=True)
// does, which Ansible uses for host lines: whitespace-separated words,
// 'single' and "double" quotes, backslash escapes, # to the end of the line.
func shlexSplit(line string) ([]shlexToken, *shlexError) {
	var toks []shlexToken
	var cur strings.Builder
	in, start := false, 0
	emit := func() {
		if in {
			toks = append(toks, shlexToken{cur.String(), start + 1})
			cur.Reset()
			in = false
		}
	}
	begin := func(i int) {
		if !in {
			in, start = true, i
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			emit()
		case c == '#':
			emit()
			return toks, nil
		case c == '\\':
			begin(i)
			if i+1 >= len(line) {
				return nil, &shlexError{i + 1, "no character after the backslash at the end of the host line"}
			}
			i++
			cur.WriteByte(line[i])
		case c == '\'':
			begin(i)
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, &shlexError{i + 1, "unterminated ' quote in host line"}
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			begin(i)
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) && (line[j+1] == '"' || line[j+1] == '\\') {
					j++
				}
				cur.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, &shlexError{i + 1, "unterminated \" quote in host line"}
			}
			i = j
		default:
			begin(i)
			cur.WriteByte(c)
		}
	}
	emit()
	return toks, nil
}

// suggest is diag.Suggest, plus a word the name begins (child -> children).
func suggest(name string, candidates []string) string {
	if s := diag.Suggest(name, candidates); s != "" {
		return s
	}
	if len(name) >= 3 {
		for _, c := range candidates {
			if strings.HasPrefix(c, name) {
				return c
			}
		}
	}
	return ""
}
