package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"kplay/diag"
)

// parseYAMLDoc parses one YAML document into a node tree, keeping positions.
// An empty document (or only comments) gives nil, nil.
func parseYAMLDoc(file string, data []byte) (*yaml.Node, diag.Diagnostics) {
	var ds diag.Diagnostics
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		ds = append(ds, yamlErr(file, data, err))
		return nil, ds
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		ds.Addf(nodePos(file, &extra), "malformed YAML: more than one document (---) in one file")
		return nil, ds
	} else if !errors.Is(err, io.EOF) {
		ds = append(ds, yamlErr(file, data, err))
		return nil, ds
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		n := doc.Content[0]
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil, nil
		}
		return n, nil
	}
	return &doc, nil
}

var reYAMLLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlErr turns a yaml.v3 error into a diagnostic. yaml.v3 gives no column
// and often the line where the enclosing block started rather than the
// offending one, so the offending line is found as the first prefix of the
// file that fails with the same message; the column is where that line's
// text starts.
func yamlErr(file string, data []byte, err error) diag.Diagnostic {
	msg := err.Error()
	if te, ok := err.(*yaml.TypeError); ok && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	line := 1
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) <= 500 {
		for n := 1; n <= len(lines); n++ {
			var node yaml.Node
			perr := yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &node)
			if perr == nil {
				continue
			}
			pmsg := perr.Error()
			if m := reYAMLLine.FindStringSubmatch(pmsg); m != nil {
				pmsg = m[2]
			}
			if pmsg == msg {
				line = n
				break
			}
		}
	}
	col := 1
	if line-1 < len(lines) {
		text := lines[line-1]
		col += len(text) - len(strings.TrimLeft(text, " \t"))
	}
	return diag.Diagnostic{Pos: diag.Pos{File: file, Line: line, Col: col}, Msg: "malformed YAML: " + msg}
}

func nodePos(file string, n *yaml.Node) diag.Pos {
	return diag.Pos{File: file, Line: n.Line, Col: n.Column}
}

func isMapping(n *yaml.Node) bool {
	n = deref(n)
	return n != nil && n.Kind == yaml.MappingNode
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("the scalar %q", n.Value)
	}
	return "something else"
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return false
	}
	v, err := (&yamlConv{}).scalar("", n)
	return err == nil && v == nil
}

// pair is one key of a YAML mapping with merges (<<) applied.
type pair struct {
	key   string
	kNode *yaml.Node
	value *yaml.Node
}

// pairs lists a mapping's keys in order, merge keys (<<: *x) expanded so
// explicit keys override them, as PyYAML does. A key given twice is
// reported, named noun ("key", "host").
func (c *yamlConv) pairs(file string, n *yaml.Node) []pair { return c.pairsOf(file, n, "key") }

func (c *yamlConv) pairsOf(file string, n *yaml.Node, noun string) []pair {
	n = deref(n)
	var out []pair
	index := map[string]int{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			v = deref(v)
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				if c.nodes++; c.nodes > maxNodes {
					break
				}
				if !isMapping(s) {
					c.ds.Addf(nodePos(file, k), "merge key << wants a mapping or a list of mappings, got %s", kindName(s))
					continue
				}
				s = deref(s)
				if !c.enter(s) {
					c.ds.Addf(nodePos(file, k), "merge key << refers to a mapping that contains it")
					continue
				}
				merged = append(merged, c.pairs(file, s)...)
				c.leave(s)
			}
			continue
		}
		key, err := c.key(file, k)
		if err != nil {
			c.ds.Addf(nodePos(file, k), "%v", err)
			continue
		}
		p := pair{key: key, kNode: k, value: v}
		if j, ok := index[key]; ok {
			c.ds.Addf(nodePos(file, k), "duplicate %s %q (first at line %d)", noun, key, out[j].kNode.Line)
			out[j] = p
			continue
		}
		index[key] = len(out)
		out = append(out, p)
	}
	// merged keys only fill in what the mapping does not set itself
	for _, p := range merged {
		if _, ok := index[p.key]; !ok {
			index[p.key] = len(out)
			out = append(out, p)
		}
	}
	return out
}

// key is a mapping key as a string; Ansible's keys are strings, numbers are
// spelt as YAML wrote them.
func (c *yamlConv) key(file string, k *yaml.Node) (string, error) {
	k = deref(k)
	if k.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("a mapping key must be a scalar, got %s", kindName(k))
	}
	return k.Value, nil
}

// yamlConv converts YAML nodes to Go values with YAML 1.1 rules, which is
// what Ansible (PyYAML) reads: yes/no/on/off are bools, 0755 is octal,
// 1e3 is a string.
type yamlConv struct {
	ds     *diag.Diagnostics
	nodes  int
	active map[*yaml.Node]bool // collections being read: an alias back to one is a loop
}

// enter marks n as being read; false when it already is (an alias that
// refers to its own ancestor, which would never end).
func (c *yamlConv) enter(n *yaml.Node) bool {
	if c.active == nil {
		c.active = map[*yaml.Node]bool{}
	}
	if c.active[n] {
		return false
	}
	c.active[n] = true
	return true
}

func (c *yamlConv) leave(n *yaml.Node) { delete(c.active, n) }

// maxNodes bounds alias expansion (a "billion laughs" file).
const maxNodes = 1_000_000

var (
	reY11Bool  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	reY11Int   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	reY11Float = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	reY11Null  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
)

// value converts a node to map[string]any, []any, string, int, float64,
// bool or nil.
func (c *yamlConv) value(file string, n *yaml.Node) (any, error) {
	c.nodes++
	if c.nodes > maxNodes {
		return nil, &nodeError{nodePos(file, n), fmt.Sprintf("too many values (alias expansion?), more than %d", maxNodes)}
	}
	n = deref(n)
	if n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode {
		if !c.enter(n) {
			return nil, &nodeError{nodePos(file, n), "an alias refers to a value that contains it"}
		}
		defer c.leave(n)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return c.scalar(file, n)
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.value(file, e)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.MappingNode:
		m := map[string]any{}
		for _, p := range c.pairs(file, n) {
			v, err := c.value(file, p.value)
			if err != nil {
				return nil, err
			}
			m[p.key] = v
		}
		return m, nil
	}
	return nil, nil
}

func (c *yamlConv) scalar(file string, n *yaml.Node) (any, error) {
	tag := ""
	if n.Style&yaml.TaggedStyle != 0 {
		tag = n.Tag
	}
	switch tag {
	case "":
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			return n.Value, nil
		}
		return resolvePlain(n.Value), nil
	case "!!str", "!unsafe", "!!binary", "!!timestamp":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		if reY11Bool.MatchString(n.Value) {
			return resolvePlain(n.Value), nil
		}
	case "!!int":
		if v, ok := y11Int(n.Value); ok {
			return v, nil
		}
	case "!!float":
		if v, ok := y11Float(n.Value); ok {
			return v, nil
		}
		if v, ok := y11Int(n.Value); ok {
			return float64(v), nil
		}
	case "!vault":
		return nil, &nodeError{nodePos(file, n), "encrypted values (!vault) are not supported"}
	default:
		return nil, &nodeError{nodePos(file, n), fmt.Sprintf("unsupported YAML tag %s", tag)}
	}
	return nil, &nodeError{nodePos(file, n), fmt.Sprintf("%q is not a valid %s", n.Value, tag)}
}

// nodeError is a problem with one YAML value, at its position.
type nodeError struct {
	pos diag.Pos
	msg string
}

func (e *nodeError) Error() string { return e.msg }

// addErr reports err at its own position when it has one, else at pos.
func addErr(ds *diag.Diagnostics, pos diag.Pos, err error) {
	var ne *nodeError
	if errors.As(err, &ne) {
		pos = ne.pos
	}
	ds.Addf(pos, "%v", err)
}

// resolvePlain types an unquoted YAML 1.1 scalar as PyYAML does.
func resolvePlain(s string) any {
	switch {
	case reY11Null.MatchString(s):
		return nil
	case reY11Bool.MatchString(s):
		switch s[0] {
		case 'y', 'Y', 't', 'T':
			return true
		case 'o', 'O':
			return s == "on" || s == "On" || s == "ON"
		}
		return false
	case reY11Int.MatchString(s):
		if v, ok := y11Int(s); ok {
			return v
		}
	case reY11Float.MatchString(s):
		if v, ok := y11Float(s); ok {
			return v
		}
	}
	return s
}

func y11Int(s string) (int, bool) {
	s = strings.ReplaceAll(s, "_", "")
	sign := 1
	if s != "" && (s[0] == '-' || s[0] == '+') {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	var n int64
	var err error
	switch {
	case s == "0":
		return 0, true
	case strings.HasPrefix(s, "0b"):
		n, err = strconv.ParseInt(s[2:], 2, 64)
	case strings.HasPrefix(s, "0x"):
		n, err = strconv.ParseInt(s[2:], 16, 64)
	case strings.HasPrefix(s, "0"):
		n, err = strconv.ParseInt(s[1:], 8, 64)
	case strings.Contains(s, ":"):
		for _, part := range strings.Split(s, ":") {
			d, e := strconv.ParseInt(part, 10, 64)
			if e != nil || n > math.MaxInt64/60 {
				return 0, false
			}
			n = n*60 + d
		}
	default:
		n, err = strconv.ParseInt(s, 10, 64)
	}
	if err != nil {
		return 0, false
	}
	return sign * int(n), true
}

func y11Float(s string) (float64, bool) {
	s = strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if s != "" && (s[0] == '-' || s[0] == '+') {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	switch {
	case s == ".inf":
		return sign * math.Inf(1), true
	case s == ".nan":
		return math.NaN(), true
	case strings.Contains(s, ":"):
		parts := strings.Split(s, ":")
		f := 0.0
		for i, part := range parts {
			d, err := strconv.ParseFloat(part, 64)
			if err != nil || (i < len(parts)-1 && strings.Contains(part, ".")) {
				return 0, false
			}
			f = f*60 + d
		}
		return sign * f, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return sign * f, true
}

// parseYAMLInventory walks Ansible's YAML inventory: top-level keys are
// groups; a group has hosts, vars and children, children being groups.
func (inv *Inventory) parseYAMLInventory(file, abs string, root *yaml.Node, ds *diag.Diagnostics) {
	c := &yamlConv{ds: ds}
	for _, p := range c.pairs(file, root) {
		if p.key == "plugin" {
			ds.Addf(nodePos(file, p.kNode), "inventory plugin configuration files are not supported: list the hosts in the inventory")
			return
		}
	}
	for _, p := range c.pairs(file, root) {
		inv.yamlGroup(c, file, abs, p, nil)
	}
}

var groupKeys = []string{"hosts", "vars", "children"}

// yamlGroup reads one group definition; parent is nil at the top level.
func (inv *Inventory) yamlGroup(c *yamlConv, file, abs string, p pair, parent *group) *group {
	if c.nodes++; c.nodes > maxNodes {
		return nil
	}
	pos := nodePos(file, p.kNode)
	data := deref(p.value)
	if data.Kind != yaml.MappingNode && !isNull(data) {
		c.ds.Addf(pos, "group %q must be a mapping with hosts, vars or children, got %s", p.key, kindName(data))
		return nil
	}
	if p.key == "" {
		c.ds.Addf(pos, "empty group name")
		return nil
	}
	if data.Kind == yaml.MappingNode {
		if !c.enter(data) {
			c.ds.Addf(pos, "group %q: an alias refers to a group that contains it", p.key)
			return nil
		}
		defer c.leave(data)
	}
	g := inv.addGroup(p.key, pos)
	if parent != nil {
		inv.addChild(parent, g, pos, c.ds)
	}
	if data.Kind != yaml.MappingNode {
		return g
	}
	for _, sec := range c.pairs(file, data) {
		val := deref(sec.value)
		if !contains(groupKeys, sec.key) {
			msg := fmt.Sprintf("unknown key %q in group %q: want hosts, vars or children", sec.key, g.name)
			if s := suggest(sec.key, groupKeys); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.ds.Addf(nodePos(file, sec.kNode), "%s", msg)
			continue
		}
		if isNull(val) {
			continue
		}
		// a plain string is allowed for one entry: "hosts: web1"
		var entries []pair
		switch val.Kind {
		case yaml.ScalarNode:
			entries = []pair{{key: val.Value, kNode: val, value: &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}}}
		case yaml.MappingNode:
			noun := "key"
			switch sec.key {
			case "hosts":
				noun = "host"
			case "children":
				noun = "child group"
			}
			entries = c.pairsOf(file, val, noun)
		default:
			c.ds.Addf(nodePos(file, sec.kNode), "%s of group %q must be a mapping, got %s", sec.key, g.name, kindName(val))
			continue
		}
		switch sec.key {
		case "vars":
			for _, e := range entries {
				v, err := c.value(file, e.value)
				if err != nil {
					addErr(c.ds, nodePos(file, e.value), err)
					continue
				}
				if e.key == "ansible_group_priority" {
					n, ok := toInt(v)
					if !ok {
						c.ds.Addf(nodePos(file, e.value), "ansible_group_priority must be a number, got %s", kindName(e.value))
						continue
					}
					g.priority = n
					continue
				}
				g.vars[e.key] = v
				g.varPos[e.key] = nodePos(file, e.kNode)
			}
		case "children":
			for _, e := range entries {
				inv.yamlGroup(c, file, abs, e, g)
			}
		case "hosts":
			seen := map[string]int{}
			for _, e := range entries {
				inv.yamlHost(c, file, abs, e, g, seen)
			}
		}
	}
	return g
}

func (inv *Inventory) yamlHost(c *yamlConv, file, abs string, e pair, g *group, seen map[string]int) {
	pos := nodePos(file, e.kNode)
	if k := deref(e.kNode); k.Kind == yaml.ScalarNode && k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		if _, isStr := resolvePlain(k.Value).(string); !isStr {
			c.ds.Addf(pos, "host %s must be a string: quote it", k.Value)
			return
		}
	}
	val := deref(e.value)
	if val.Kind != yaml.MappingNode && !isNull(val) {
		c.ds.Addf(pos, "host %q must map to its variables (or nothing), got %s", e.key, kindName(val))
		return
	}
	names, port, ok := expandHostPattern(e.key, pos, c.ds)
	if !ok {
		return
	}
	if len(inv.hosts)+len(names) > maxHosts {
		c.ds.Addf(pos, "the inventory has more than %d hosts", maxHosts)
		return
	}
	vars := map[string]any{}
	vpos := map[string]diag.Pos{}
	var keys []string
	if val.Kind == yaml.MappingNode {
		for _, vp := range c.pairs(file, val) {
			v, err := c.value(file, vp.value)
			if err != nil {
				addErr(c.ds, nodePos(file, vp.value), err)
				continue
			}
			keys = append(keys, vp.key)
			vars[vp.key] = v
			vpos[vp.key] = nodePos(file, vp.kNode)
		}
	}
	for _, name := range names {
		if prev, dup := seen[name]; dup {
			c.ds.Addf(pos, "duplicate host %q in hosts of group %q (first listed at line %d)", name, g.name, prev)
		} else {
			seen[name] = pos.Line
		}
		// each host gets its own copy: the engine may change one host's vars
		cp := make(map[string]any, len(vars))
		for k, v := range vars {
			cp[k] = deepCopy(v)
		}
		inv.setHost(name, pos, abs, g, port, keys, cp, vpos)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
