package dsl

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"kplay/diag"
)

// LoadPlaybook reads and parses a playbook file.
func LoadPlaybook(path string, schemas map[string]ModuleSchema) (*Playbook, diag.Diagnostics) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, diag.Diagnostics{{Pos: Pos{File: path}, Msg: err.Error()}}
	}
	return ParsePlaybook(path, b, schemas)
}

// ParsePlaybook parses a playbook. It walks the YAML node tree, keeping
// every position, and reports every problem it finds, not just the first:
// malformed YAML, unknown keywords and modules, argument errors checked
// against schemas, expressions and templates that do not compile, and
// notifications that name no handler. The playbook is returned even when
// there are diagnostics, for tools that want what could be read.
func ParsePlaybook(path string, src []byte, schemas map[string]ModuleSchema) (*Playbook, diag.Diagnostics) {
	p := &pbParser{path: path, src: src, schemas: schemas, notifyPos: map[*Task][]Pos{}}
	pb := &Playbook{Path: path}
	root, ok := p.document()
	if !ok {
		return pb, p.ds
	}
	if root.Kind != yaml.SequenceNode {
		p.errf(root, "a playbook is a list of plays, not %s", kindName(root))
		return pb, p.ds
	}
	if len(root.Content) == 0 {
		p.errf(root, "the playbook has no plays")
	}
	for _, n := range root.Content {
		if play := p.play(n); play != nil {
			pb.Plays = append(pb.Plays, play)
		}
	}
	p.ds.Sort()
	return pb, p.ds
}

type pbParser struct {
	path    string
	src     []byte
	lines   []string
	schemas map[string]ModuleSchema
	ds      diag.Diagnostics
	// notifyPos holds where each of a task's notify names is written.
	notifyPos map[*Task][]Pos
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses the YAML and returns its root node.
func (p *pbParser) document() (*yaml.Node, bool) {
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(string(p.src)))
	if err := dec.Decode(&doc); err != nil {
		if isEOF(err) {
			p.ds.Addf(Pos{File: p.path, Line: 1, Col: 1}, "the file is empty")
			return nil, false
		}
		p.yamlError(err, p.problemLine())
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.ds.Addf(p.pos(&extra), "a playbook is one YAML document; remove the second one (---)")
	} else if !isEOF(err) {
		p.yamlError(err, 0)
	}
	if len(doc.Content) == 0 {
		p.ds.Addf(Pos{File: p.path, Line: 1, Col: 1}, "the file is empty")
		return nil, false
	}
	p.duplicateKeys(doc.Content[0], map[*yaml.Node]bool{})
	return doc.Content[0], true
}

// duplicateKeys reports a key written twice in one mapping: yaml.v3 only
// notices when decoding into a Go map, and Ansible silently keeps the last.
func (p *pbParser) duplicateKeys(n *yaml.Node, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	if n.Kind == yaml.MappingNode {
		first := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Tag != "!!merge" {
				if f, dup := first[k.Value]; dup {
					p.errf(k, "duplicate key %q (first on line %d)", k.Value, f.Line)
				} else {
					first[k.Value] = k
				}
			}
		}
	}
	for _, c := range n.Content {
		p.duplicateKeys(c, seen)
	}
}

func isEOF(err error) bool { return err != nil && err.Error() == "EOF" }

// problemLine finds the line that breaks the YAML: yaml.v3 reports the line
// where the enclosing list or mapping starts, which can be far above the
// mistake. The first line whose addition makes the document fail is it.
func (p *pbParser) problemLine() int {
	lines := strings.SplitAfter(string(p.src), "\n")
	if len(lines) > 2000 {
		return 0
	}
	for n := 1; n <= len(lines); n++ {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &doc); err != nil {
			return n
		}
	}
	return 0
}

// yamlError turns yaml.v3's "yaml: line N: msg" into a diagnostic; line,
// when known, is where the problem really is.
func (p *pbParser) yamlError(err error, problem int) {
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "yaml: unmarshal errors:" {
			continue
		}
		if m := yamlLineRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			if problem > n {
				p.ds.Addf(Pos{File: p.path, Line: problem}, "malformed YAML: %s (in the block that starts on line %d)", m[2], n)
				continue
			}
			p.ds.Addf(Pos{File: p.path, Line: n}, "malformed YAML: %s", m[2])
			continue
		}
		if m := regexp.MustCompile(`^line (\d+): (.*)$`).FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			p.ds.Addf(Pos{File: p.path, Line: n}, "malformed YAML: %s", m[2])
			continue
		}
		p.ds.Addf(Pos{File: p.path}, "malformed YAML: %s", strings.TrimPrefix(line, "yaml: "))
	}
}

func (p *pbParser) pos(n *yaml.Node) Pos { return Pos{File: p.path, Line: n.Line, Col: n.Column} }

func (p *pbParser) errf(n *yaml.Node, format string, args ...any) {
	p.ds.Addf(p.pos(n), format, args...)
}

// addErr records an error from compiling an expression or template.
func (p *pbParser) addErr(n *yaml.Node, err error) {
	var pe *PosError
	if errors.As(err, &pe) {
		p.ds = append(p.ds, diag.Diagnostic{Pos: pe.Pos, Msg: pe.Msg})
		return
	}
	p.errf(n, "%v", err)
}

// contentPos is where a scalar's text starts, and the indentation of its
// later lines: a quoted scalar starts after its quote, a block scalar (| or
// >) on the next line.
func (p *pbParser) contentPos(n *yaml.Node) (Pos, int) {
	pos := p.pos(n)
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		pos.Col++
		return pos, n.Column
	case yaml.LiteralStyle, yaml.FoldedStyle:
		if p.lines == nil {
			p.lines = strings.Split(string(p.src), "\n")
		}
		for l := n.Line; l < len(p.lines); l++ { // p.lines[l] is line l+1
			text := p.lines[l]
			if strings.TrimSpace(text) == "" {
				continue
			}
			indent := len(text) - len(strings.TrimLeft(text, " "))
			return Pos{File: p.path, Line: l + 1, Col: indent + 1}, indent
		}
	}
	return pos, n.Column - 1
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// pairs returns a mapping's key and value nodes, with merge keys (<<: *x)
// expanded.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Value == "<<" && k.Tag == "!!merge" {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				if s = resolve(s); s.Kind == yaml.MappingNode {
					out = append(out, pairs(s)...)
				}
			}
			continue
		}
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

// --- scalars ----------------------------------------------------------------

func (p *pbParser) str(n *yaml.Node, what string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errf(n, "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *pbParser) boolean(n *yaml.Node, what string) (bool, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on", "y":
			return true, true
		case "false", "no", "off", "n":
			return false, true
		}
		if HasTemplate(n.Value) {
			p.errf(n, "%s must be true or false; a template is not allowed here", what)
			return false, false
		}
	}
	p.errf(n, "%s must be true or false, not %s", what, kindName(n))
	return false, false
}

func (p *pbParser) integer(n *yaml.Node, what string) (int, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		var i int
		if err := n.Decode(&i); err == nil {
			return i, true
		}
	}
	p.errf(n, "%s must be a whole number, not %s", what, kindName(n))
	return 0, false
}

func (p *pbParser) number(n *yaml.Node, what string) (float64, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		var f float64
		if err := n.Decode(&f); err == nil {
			return f, true
		}
	}
	p.errf(n, "%s must be a number, not %s", what, kindName(n))
	return 0, false
}

// strList reads a string or a list of strings (tags, notify, listen).
func (p *pbParser) strList(n *yaml.Node, what string) ([]string, []Pos) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, []Pos{p.pos(n)}
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n, "%s must be a string or a list of strings, not %s", what, kindName(n))
		return nil, nil
	}
	var out []string
	var pos []Pos
	for _, c := range n.Content {
		if s, ok := p.str(c, what+" item"); ok {
			out = append(out, s)
			pos = append(pos, p.pos(c))
		}
	}
	return out, pos
}

// tags accepts "a,b", a list, or numbers.
func (p *pbParser) tags(n *yaml.Node) []string {
	raw, _ := p.strList(n, "tags")
	var out []string
	for _, t := range raw {
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// --- values -----------------------------------------------------------------

// value reads any YAML value, compiling templated strings.
func (p *pbParser) value(n *yaml.Node) *Value {
	n = resolve(n)
	v := &Value{Pos: p.pos(n)}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			v.Kind = Null
		case "!!bool":
			var b bool
			_ = n.Decode(&b)
			v.Kind, v.Scalar = Scalar, b
		case "!!int":
			var i int
			if err := n.Decode(&i); err != nil {
				v.Kind, v.Scalar = Scalar, n.Value
			} else {
				v.Kind, v.Scalar = Scalar, i
			}
		case "!!float":
			var f float64
			_ = n.Decode(&f)
			v.Kind, v.Scalar = Scalar, f
		case "!unsafe":
			// Ansible's mark for text that must never be templated.
			v.Kind, v.Scalar = Scalar, n.Value
		case "!vault":
			v.Kind, v.Scalar = Scalar, n.Value
			p.errf(n, "Ansible Vault (!vault) is not supported: pass the secret with -e @file or a vars file kept out of the repository")
		default:
			v.Kind, v.Scalar = Scalar, n.Value
			if HasTemplate(n.Value) {
				pos, indent := p.contentPos(n)
				t, err := parseTemplate(n.Value, pos, indent, false)
				if err != nil {
					p.addErr(n, err)
					return v
				}
				v.Kind, v.Scalar, v.Tmpl = Text, nil, t
				v.Pos = pos
			}
		}
	case yaml.SequenceNode:
		v.Kind = List
		v.List = []*Value{}
		for _, c := range n.Content {
			v.List = append(v.List, p.value(c))
		}
	case yaml.MappingNode:
		v.Kind = Map
		v.Map = []*Entry{}
		for _, kv := range pairs(n) {
			if kv[0].Kind != yaml.ScalarNode {
				p.errf(kv[0], "a mapping key must be a string, not %s", kindName(kv[0]))
				continue
			}
			v.Map = append(v.Map, &Entry{Key: kv[0].Value, KeyPos: p.pos(kv[0]), Value: p.value(kv[1])})
		}
	}
	return v
}

var varNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// entries reads a mapping of names to values (vars, environment).
func (p *pbParser) entries(n *yaml.Node, what string, names bool) []*Entry {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errf(n, "%s must be a mapping, not %s", what, kindName(n))
		return nil
	}
	var out []*Entry
	for _, kv := range pairs(n) {
		k := kv[0]
		if k.Kind != yaml.ScalarNode {
			p.errf(k, "%s: a key must be a string, not %s", what, kindName(k))
			continue
		}
		if names && !varNameRe.MatchString(k.Value) {
			p.errf(k, "%s: %q is not a valid variable name (letters, digits and _, not starting with a digit)", what, k.Value)
			continue
		}
		out = append(out, &Entry{Key: k.Value, KeyPos: p.pos(k), Value: p.value(kv[1])})
	}
	return out
}

// exprs reads a condition: a string, a bool, or a list of them (all must
// hold).
func (p *pbParser) exprs(n *yaml.Node, what string) []*Expr {
	n = resolve(n)
	var out []*Expr
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			out = append(out, p.exprs(c, what)...)
		}
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			p.errf(n, "%s is empty", what)
			return nil
		}
		pos, indent := p.contentPos(n)
		src := n.Value
		if n.Tag == "!!bool" {
			b, _ := p.boolean(n, what)
			src = strconv.FormatBool(b)
		}
		e, err := compileExpr(src, pos, indent, false)
		if err != nil {
			p.addErr(n, err)
			return nil
		}
		out = append(out, e)
	default:
		p.errf(n, "%s must be an expression or a list of them, not %s", what, kindName(n))
	}
	return out
}

// --- plays --------------------------------------------------------------------

var playKeywords = []string{"name", "hosts", "vars", "vars_files", "become", "become_user", "serial",
	"gather_facts", "tasks", "pre_tasks", "post_tasks", "handlers", "any_errors_fatal",
	"max_fail_percentage", "tags", "environment"}

// unsupported says what to do instead of an Ansible keyword kplay lacks.
var unsupported = map[string]string{
	"roles":            "roles are not supported: put the tasks in the play",
	"import_playbook":  "import_playbook is not supported: run the playbooks one after the other",
	"include":          "include is not supported: put the tasks in the playbook",
	"include_tasks":    "include_tasks is not supported: put the tasks in the playbook, in a block if they belong together",
	"import_tasks":     "import_tasks is not supported: put the tasks in the playbook, in a block if they belong together",
	"include_role":     "include_role is not supported: put the role's tasks in the playbook",
	"import_role":      "import_role is not supported: put the role's tasks in the playbook",
	"include_vars":     "include_vars is not supported: use vars_files in the play",
	"with_dict":        "with_dict is not supported: write loop: \"{{ d | dict2items }}\" and use item.key, item.value",
	"with_fileglob":    "with_fileglob is not supported: list the files in loop",
	"with_nested":      "with_nested is not supported: write two tasks or a loop over a computed list",
	"with_subelements": "with_subelements is not supported: write a loop over a computed list",
	"with_sequence":    "with_sequence is not supported: write loop: \"{{ range(1, n + 1) | list }}\"",
	"with_together":    "with_together is not supported: write loop: \"{{ a | zip(b) | list }}\"",
	"local_action":     "local_action is not supported: write the module and delegate_to: localhost",
	"strategy":         "strategy is not supported: kplay runs each task on all hosts before the next (linear)",
	"async":            "async is not supported",
	"poll":             "poll is not supported",
}

func (p *pbParser) play(n *yaml.Node) *Play {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, "a play must be a mapping with hosts and tasks, not %s", kindName(n))
		return nil
	}
	play := &Play{Pos: p.pos(n), GatherFacts: true}
	var pre, tasks, post []*Task
	hasHosts := false
	for _, kv := range pairs(n) {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "name":
			play.Name, _ = p.str(v, "name")
		case "hosts":
			hasHosts = true
			play.HostsPos = p.pos(v)
			hs, _ := p.strList(v, "hosts")
			play.Hosts = strings.Join(hs, ":")
			if strings.TrimSpace(play.Hosts) == "" && len(hs) > 0 {
				p.errf(v, "hosts is empty")
			}
		case "vars":
			play.Vars = p.entries(v, "vars", true)
		case "vars_files":
			v = resolve(v)
			if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
				play.VarsFiles = append(play.VarsFiles, p.value(v))
			} else if v.Kind == yaml.SequenceNode {
				for _, c := range v.Content {
					if c = resolve(c); c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
						p.errf(c, "vars_files: each item must be a path, not %s", kindName(c))
						continue
					}
					play.VarsFiles = append(play.VarsFiles, p.value(c))
				}
			} else {
				p.errf(v, "vars_files must be a list of paths, not %s", kindName(v))
			}
		case "become":
			if b, ok := p.boolean(v, "become"); ok {
				play.Become = &b
			}
		case "become_user":
			play.BecomeUser, _ = p.str(v, "become_user")
		case "serial":
			play.Serial = p.serial(v)
		case "gather_facts":
			play.GatherFacts, _ = p.boolean(v, "gather_facts")
		case "tasks":
			tasks = p.tasks(v, "tasks", false)
		case "pre_tasks":
			pre = p.tasks(v, "pre_tasks", false)
		case "post_tasks":
			post = p.tasks(v, "post_tasks", false)
		case "handlers":
			play.Handlers = p.tasks(v, "handlers", true)
		case "any_errors_fatal":
			play.AnyErrorsFatal, _ = p.boolean(v, "any_errors_fatal")
		case "max_fail_percentage":
			if f, ok := p.number(v, "max_fail_percentage"); ok {
				if f < 0 || f > 100 {
					p.errf(v, "max_fail_percentage must be between 0 and 100")
				} else {
					play.MaxFailPercentage = &f
				}
			}
		case "tags":
			play.Tags = p.tags(v)
		case "environment":
			play.Environment = p.entries(v, "environment", false)
		default:
			if msg, ok := unsupported[k.Value]; ok {
				p.errf(k, "%s", msg)
				continue
			}
			msg := fmt.Sprintf("unknown play keyword %q", k.Value)
			if s := diag.Suggest(k.Value, playKeywords); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.errf(k, "%s", msg)
		}
	}
	play.Tasks = append(append(pre, tasks...), post...)
	if len(pre) > 0 || len(post) > 0 {
		// Ansible flushes handlers after pre_tasks and after tasks.
		play.Flushes = []int{len(pre), len(pre) + len(tasks)}
	}
	if !hasHosts {
		p.errf(n, "the play has no hosts: add hosts: with a group, a host or all")
	}
	p.checkNotify(play)
	return play
}

func (p *pbParser) serial(n *yaml.Node) []Serial {
	n = resolve(n)
	one := func(c *yaml.Node) (Serial, bool) {
		c = resolve(c)
		if c.Kind == yaml.ScalarNode {
			if c.Tag == "!!int" {
				var i int
				if err := c.Decode(&i); err == nil && i > 0 {
					return Serial{Count: i}, true
				}
			}
			if s, ok := strings.CutSuffix(strings.TrimSpace(c.Value), "%"); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && f > 0 && f <= 100 {
					return Serial{Percent: f}, true
				}
			}
		}
		p.errf(c, "serial must be a positive number, a percentage like \"30%%\", or a list of them, not %s", kindName(c))
		return Serial{}, false
	}
	if n.Kind == yaml.SequenceNode {
		var out []Serial
		for _, c := range n.Content {
			if s, ok := one(c); ok {
				out = append(out, s)
			}
		}
		if len(n.Content) == 0 {
			p.errf(n, "serial is an empty list")
		}
		return out
	}
	if s, ok := one(n); ok {
		return []Serial{s}
	}
	return nil
}

// --- tasks --------------------------------------------------------------------

var taskKeywords = []string{"name", "when", "loop", "with_items", "with_list", "loop_control", "register",
	"notify", "listen", "changed_when", "failed_when", "ignore_errors", "until", "retries", "delay",
	"tags", "vars", "environment", "become", "become_user", "run_once", "delegate_to", "check_mode",
	"no_log", "timeout", "block", "rescue", "always", "args", "any_errors_fatal"}

func (p *pbParser) tasks(n *yaml.Node, what string, handlers bool) []*Task {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n, "%s must be a list of tasks, not %s", what, kindName(n))
		return nil
	}
	var out []*Task
	for _, c := range n.Content {
		if t := p.task(c, handlers); t != nil {
			out = append(out, t)
		}
	}
	return out
}

func (p *pbParser) moduleNames() []string {
	out := make([]string, 0, len(p.schemas))
	for n := range p.schemas {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// moduleName strips Ansible's collection prefixes.
func moduleName(key string) string {
	for _, prefix := range []string{"ansible.builtin.", "ansible.legacy."} {
		if s, ok := strings.CutPrefix(key, prefix); ok {
			return s
		}
	}
	return key
}

func (p *pbParser) task(n *yaml.Node, handler bool) *Task {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, "a task must be a mapping with a module, not %s", kindName(n))
		return nil
	}
	t := &Task{Pos: p.pos(n), LoopVar: "item"}
	var modKey, modVal *yaml.Node
	var argsNode *yaml.Node
	var unknown []*yaml.Node
	// taskOnly holds the keywords that make sense on a module call only,
	// refused on a block below as Ansible refuses them.
	var taskOnly []*yaml.Node
	hasBlock, hasRescue, hasAlways, hadUnsupported := false, false, false, false
	for _, kv := range pairs(n) {
		k, v := kv[0], kv[1]
		if blockInvalid[k.Value] != "" {
			taskOnly = append(taskOnly, k)
		}
		switch k.Value {
		case "name":
			t.Name, _ = p.str(v, "name")
		case "when":
			t.When = p.exprs(v, "when")
		case "loop", "with_items", "with_list":
			if t.Loop != nil {
				p.errf(k, "a task has one loop; %s repeats it", k.Value)
			}
			t.Loop = p.value(v)
			t.WithItems = k.Value == "with_items"
			if t.Loop.Kind == Scalar || t.Loop.Kind == Null || t.Loop.Kind == Map {
				p.errf(v, "%s must be a list or a template giving one (\"{{ xs }}\"), not %s", k.Value, kindName(resolve(v)))
			}
		case "loop_control":
			p.loopControl(t, v)
		case "register":
			if s, ok := p.str(v, "register"); ok {
				if !varNameRe.MatchString(s) {
					p.errf(v, "register: %q is not a valid variable name", s)
				}
				t.Register = s
			}
		case "notify":
			var pos []Pos
			t.Notify, pos = p.strList(v, "notify")
			if p.notifyPos != nil {
				p.notifyPos[t] = pos
			}
		case "listen":
			if !handler {
				p.errf(k, "listen is only for handlers")
			}
			t.Listen, _ = p.strList(v, "listen")
		case "changed_when":
			t.ChangedWhen = p.exprs(v, "changed_when")
		case "failed_when":
			t.FailedWhen = p.exprs(v, "failed_when")
		case "ignore_errors":
			t.IgnoreErrors, _ = p.boolean(v, "ignore_errors")
		case "any_errors_fatal":
			t.AnyErrorsFatal, _ = p.boolean(v, "any_errors_fatal")
		case "until":
			t.Until = p.exprs(v, "until")
		case "retries":
			if i, ok := p.integer(v, "retries"); ok {
				if i < 0 {
					p.errf(v, "retries must not be negative")
				}
				t.Retries = i
			}
		case "delay":
			if f, ok := p.number(v, "delay"); ok {
				if f < 0 {
					p.errf(v, "delay must not be negative")
				}
				t.Delay = f
			}
		case "tags":
			t.Tags = p.tags(v)
		case "vars":
			t.Vars = p.entries(v, "vars", true)
		case "environment":
			t.Environment = p.entries(v, "environment", false)
		case "become":
			if b, ok := p.boolean(v, "become"); ok {
				t.Become = &b
			}
		case "become_user":
			t.BecomeUser, _ = p.str(v, "become_user")
		case "run_once":
			t.RunOnce, _ = p.boolean(v, "run_once")
		case "delegate_to":
			if s, ok := p.str(v, "delegate_to"); ok {
				if s != "localhost" && s != "127.0.0.1" {
					p.errf(v, "delegate_to: only localhost is supported, not %q", s)
				}
				t.DelegateTo = s
			}
		case "check_mode":
			if b, ok := p.boolean(v, "check_mode"); ok {
				t.CheckMode = &b
			}
		case "no_log":
			t.NoLog, _ = p.boolean(v, "no_log")
		case "timeout":
			if i, ok := p.integer(v, "timeout"); ok {
				if i < 0 {
					p.errf(v, "timeout must not be negative")
				}
				t.Timeout = i
			}
		case "block":
			hasBlock = true
			t.Block = p.tasks(v, "block", handler)
			if t.Block == nil {
				t.Block = []*Task{}
			}
		case "rescue":
			hasRescue = true
			t.Rescue = p.tasks(v, "rescue", handler)
		case "always":
			hasAlways = true
			t.Always = p.tasks(v, "always", handler)
		case "args":
			argsNode = v
		case "meta", "ansible.builtin.meta", "ansible.legacy.meta":
			if modKey != nil {
				p.errf(k, "two modules in one task: %q and %q; write two tasks", modKey.Value, k.Value)
				continue
			}
			modKey, modVal = k, v
		default:
			if msg, ok := unsupported[k.Value]; ok {
				p.errf(k, "%s", msg)
				hadUnsupported = true
				continue
			}
			if _, ok := p.schemas[moduleName(k.Value)]; ok {
				if modKey != nil {
					p.errf(k, "two modules in one task: %q and %q; write two tasks", modKey.Value, k.Value)
					continue
				}
				modKey, modVal = k, v
				continue
			}
			unknown = append(unknown, k)
		}
	}
	for _, k := range unknown {
		p.unknownTaskKey(k, modKey != nil || hasBlock)
	}
	if (hasRescue || hasAlways) && !hasBlock {
		p.errf(n, "rescue and always belong to a block: add block:")
	}
	if t.Until != nil {
		if t.Retries == 0 && !hasKey(n, "retries") {
			t.Retries = 3
		}
		if !hasKey(n, "delay") {
			t.Delay = 5
		}
	}
	switch {
	case hasBlock && modKey != nil:
		p.errf(modKey, "a block cannot also call a module (%q): move it into the block", modKey.Value)
	case hasBlock:
		for _, k := range taskOnly {
			if k.Value == "listen" && !handler {
				continue // already refused: listen is only for handlers
			}
			p.errf(k, blockInvalid[k.Value], k.Value)
		}
	case modKey != nil && moduleName(modKey.Value) == "meta":
		t.Module = "meta"
		t.ModulePos = p.pos(modKey)
		p.meta(t, n, modKey, modVal)
		if handler {
			p.errf(modKey, "meta is not supported in handlers: handlers run in definition order anyway")
		}
	case modKey != nil:
		t.Module = moduleName(modKey.Value)
		t.ModulePos = p.pos(modKey)
		t.Args = p.moduleArgs(t, modKey, modVal, argsNode)
	case len(unknown) == 0 && !hadUnsupported && !hasRescue && !hasAlways:
		p.errf(n, "the task calls no module")
	}
	if handler && !hasBlock && t.Name == "" && len(t.Listen) == 0 {
		p.errf(n, "a handler needs a name (or listen) for notify to find it")
	}
	return t
}

// blockInvalid are the task keywords Ansible refuses on a block ("'register'
// is not a valid attribute for a Block"), with kplay's message; %s is the
// keyword. kplay used to accept them and ignore them, which hid mistakes.
var blockInvalid = map[string]string{
	"loop":         "a block cannot loop: put %s on its tasks",
	"with_items":   "a block cannot loop: put %s on its tasks",
	"with_list":    "a block cannot loop: put %s on its tasks",
	"loop_control": "a block cannot loop: put %s on its tasks, with their loop",
	"register":     "%s is not valid on a block: put it on a task inside the block",
	"until":        "%s is not valid on a block: put it on a task inside the block",
	"retries":      "%s is not valid on a block: put it on a task inside the block",
	"delay":        "%s is not valid on a block: put it on a task inside the block",
	"changed_when": "%s is not valid on a block: put it on a task inside the block",
	"failed_when":  "%s is not valid on a block: put it on a task inside the block",
	"listen":       "%s is not valid on a block: put it on a handler inside the block",
	"args":         "%s belongs to a module, not a block",
}

// metaActions are Ansible's meta actions kplay does not have, refused by
// name rather than as unknown.
var metaActions = []string{"noop", "clear_facts", "clear_host_errors", "end_batch", "end_host",
	"end_play", "end_role", "refresh_inventory", "reset_connection"}

// meta reads `meta: flush_handlers`, the one meta action kplay has: it runs
// the handlers notified so far, there. Keywords other than name and tags
// do nothing on it, so they are refused (Ansible warns about when and
// ignores it).
func (p *pbParser) meta(t *Task, n, key, val *yaml.Node) {
	if s, ok := p.str(val, "meta"); ok {
		switch {
		case s == "flush_handlers":
			t.Meta = s
		case contains(metaActions, s):
			p.errf(val, "meta: %s is not supported (only flush_handlers is)", s)
		default:
			msg := fmt.Sprintf("meta: unknown action %q", s)
			if sg := diag.Suggest(s, append([]string{"flush_handlers"}, metaActions...)); sg != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sg)
			}
			p.errf(val, "%s", msg)
		}
	}
	for _, kv := range pairs(n) {
		k := kv[0]
		switch k.Value {
		case key.Value, "name", "tags":
		default:
			if contains(taskKeywords, k.Value) {
				p.errf(k, "%s does nothing on meta: %s; remove it", k.Value, val.Value)
			}
		}
	}
}

func hasKey(n *yaml.Node, key string) bool {
	for _, kv := range pairs(n) {
		if kv[0].Value == key {
			return true
		}
	}
	return false
}

func (p *pbParser) unknownTaskKey(k *yaml.Node, hasModule bool) {
	name := k.Value
	if s := diag.Suggest(name, taskKeywords); s != "" {
		if ms := diag.Suggest(moduleName(name), p.moduleNames()); ms == "" || hasModule {
			p.errf(k, "unknown task keyword %q (did you mean %q?)", name, s)
			return
		}
	}
	if !hasModule {
		msg := fmt.Sprintf("unknown module %q", name)
		if s := diag.Suggest(moduleName(name), p.moduleNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.errf(k, "%s", msg)
		return
	}
	p.errf(k, "unknown task keyword %q", name)
}

func (p *pbParser) loopControl(t *Task, n *yaml.Node) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, "loop_control must be a mapping, not %s", kindName(n))
		return
	}
	for _, kv := range pairs(n) {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "loop_var":
			if s, ok := p.str(v, "loop_var"); ok {
				if !varNameRe.MatchString(s) {
					p.errf(v, "loop_var: %q is not a valid variable name", s)
				} else {
					t.LoopVar = s
				}
			}
		case "label", "pause", "index_var", "extended":
			// label only shortens Ansible's output; kplay prints the item
			// anyway. The others are accepted and read by nothing yet.
			if k.Value != "label" {
				p.errf(k, "loop_control: %s is not supported (loop_var and label are)", k.Value)
			}
		default:
			msg := fmt.Sprintf("loop_control: unknown keyword %q", k.Value)
			if s := diag.Suggest(k.Value, []string{"loop_var", "label"}); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.errf(k, "%s", msg)
		}
	}
}

// moduleArgs reads a module's arguments (a mapping, a free-form string, or
// k=v words) and checks literal values against the module's schema.
func (p *pbParser) moduleArgs(t *Task, key, val, argsNode *yaml.Node) []*Entry {
	schema := p.schemas[t.Module]
	val = resolve(val)
	var args []*Entry
	switch {
	case val.Kind == yaml.MappingNode:
		args = p.entries(val, t.Module, false)
	case val.Kind == yaml.ScalarNode && val.Tag == "!!null":
	case val.Kind == yaml.ScalarNode:
		args = p.freeForm(schema, val)
	default:
		p.errf(val, "%s: arguments must be a mapping or a string, not %s", t.Module, kindName(val))
		return nil
	}
	if argsNode != nil {
		extra := p.entries(argsNode, "args", false)
		for _, e := range extra {
			if argIndex(args, e.Key) >= 0 {
				p.ds.Addf(e.KeyPos, "%s: argument %q given twice", t.Module, e.Key)
				continue
			}
			args = append(args, e)
		}
	}
	p.checkArgs(schema, key, args)
	for _, name := range exprArgs[t.Module] {
		if i := argIndex(args, name); i >= 0 {
			t.argExprs = append(t.argExprs, p.argExprs(args[i].Value)...)
		}
	}
	return args
}

// exprArgs are the module arguments that, as in Ansible, hold bare
// expressions rather than text.
var exprArgs = map[string][]string{"assert": {"that"}, "debug": {"var"}}

// argExprs compiles an expression argument: a string or a list of them.
// A templated one ("{{ x }}") is left to run time.
func (p *pbParser) argExprs(v *Value) []*Expr {
	var out []*Expr
	switch v.Kind {
	case List:
		for _, x := range v.List {
			out = append(out, p.argExprs(x)...)
		}
	case Scalar:
		var src string
		switch x := v.Scalar.(type) {
		case string:
			src = x
		case bool:
			src = strconv.FormatBool(x)
		default:
			return nil
		}
		e, err := CompileExpr(src, v.Pos)
		if err != nil {
			var pe *PosError
			if errors.As(err, &pe) {
				p.ds = append(p.ds, diag.Diagnostic{Pos: pe.Pos, Msg: pe.Msg})
			} else {
				p.ds.Addf(v.Pos, "%v", err)
			}
			return nil
		}
		out = append(out, e)
	}
	return out
}

func argIndex(args []*Entry, key string) int {
	for i, e := range args {
		if e.Key == key {
			return i
		}
	}
	return -1
}

// freeForm reads `shell: echo hi creates=/x` and `copy: src=a dest=b`: words
// k=v naming a known argument are arguments; the rest is the free-form
// argument, when the module has one.
func (p *pbParser) freeForm(s ModuleSchema, n *yaml.Node) []*Entry {
	pos, indent := p.contentPos(n)
	words := splitWords(n.Value)
	var args []*Entry
	var rest []string
	for _, w := range words {
		k, v, ok := strings.Cut(w.text, "=")
		_, known := s.Args[k]
		known = known || (s.FreeKeys && varNameRe.MatchString(k))
		if ok && known && k != s.FreeForm {
			col := pos.Col + w.off + len([]rune(k)) + 1
			if unquote(v) != v {
				col++ // past the quote
			}
			vn := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: unquote(v), Line: pos.Line, Column: col}
			args = append(args, &Entry{Key: k, KeyPos: at(pos, n.Value, w.off, indent), Value: p.value(vn)})
			continue
		}
		if s.FreeForm == "" {
			p.ds.Addf(at(pos, n.Value, w.off, indent), "%s takes no free-form text: write its arguments as a mapping (or k=v), %q is neither", s.Name, w.text)
			return args
		}
		rest = append(rest, w.text)
	}
	if s.FreeForm != "" && len(rest) > 0 {
		// The free-form text keeps its own spacing: only k=v words at the
		// start or end are taken out.
		text := n.Value
		if len(args) > 0 {
			text = strings.Join(rest, " ")
		}
		vn := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text, Line: n.Line, Column: n.Column, Style: n.Style}
		args = append([]*Entry{{Key: s.FreeForm, KeyPos: pos, Value: p.value(vn)}}, args...)
	}
	return args
}

type word struct {
	text string
	off  int // rune offset
}

// splitWords splits on spaces outside quotes and outside {{ }}, {% %} and
// {# #}, keeping quotes in the words, as Ansible's k=v parser does.
func splitWords(s string) []word {
	var out []word
	var cur []rune
	start := -1
	var quote rune
	depth := 0
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if i+1 < len(rs) {
			two := string(rs[i : i+2])
			switch {
			case quote == 0 && (two == "{{" || two == "{%" || two == "{#"):
				depth++
			case depth > 0 && (two == "}}" || two == "%}" || two == "#}"):
				depth--
				if start < 0 {
					start = i
				}
				cur = append(cur, rs[i], rs[i+1])
				i++
				continue
			}
		}
		switch {
		case depth > 0:
			if start < 0 {
				start = i
			}
			cur = append(cur, r)
		case quote != 0:
			cur = append(cur, r)
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			if start < 0 {
				start = i
			}
			quote = r
			cur = append(cur, r)
		case r == ' ' || r == '\t' || r == '\n':
			if start >= 0 {
				out = append(out, word{string(cur), start})
				cur, start = nil, -1
			}
		default:
			if start < 0 {
				start = i
			}
			cur = append(cur, r)
		}
	}
	if start >= 0 {
		out = append(out, word{string(cur), start})
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// checkArgs checks arguments against the schema: unknown names, missing
// required ones, and the types and choices of literal values. Templated
// values are checked when the task runs.
func (p *pbParser) checkArgs(s ModuleSchema, key *yaml.Node, args []*Entry) {
	var names []string
	for n := range s.Args {
		names = append(names, n)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	for _, e := range args {
		spec, ok := s.Args[e.Key]
		if !ok && s.FreeKeys {
			if !varNameRe.MatchString(e.Key) {
				p.ds.Addf(e.KeyPos, "%s: %q is not a valid variable name", s.Name, e.Key)
			}
			continue
		}
		if !ok {
			msg := fmt.Sprintf("%s: unknown argument %q", s.Name, e.Key)
			if sg := diag.Suggest(e.Key, names); sg != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sg)
			}
			p.ds.Addf(e.KeyPos, "%s", msg)
			continue
		}
		seen[e.Key] = true
		if msg := checkLiteral(spec, e.Value); msg != "" {
			p.ds.Addf(e.Value.Pos, "%s: argument %q: %s", s.Name, e.Key, msg)
		}
	}
	// A required argument given by one of its aliases counts as given.
	given := map[string]bool{}
	for k := range seen {
		given[canonical(k, s.Args[k])] = true
	}
	reported := map[string]bool{}
	for _, n := range names {
		spec := s.Args[n]
		c := canonical(n, spec)
		if !spec.Required || given[c] || reported[c] {
			continue
		}
		reported[c] = true
		p.errf(key, "%s: missing required argument %q", s.Name, c)
	}
}

// canonical is the name an argument key stands for.
func canonical(key string, spec ArgSpec) string {
	if spec.Name != "" {
		return spec.Name
	}
	return key
}

var (
	octalModeRe    = regexp.MustCompile(`^0?[0-7]{3,4}$`)
	symbolicModeRe = regexp.MustCompile(`^[ugoa]+[=+-][rwxXst]*(,[ugoa]+[=+-][rwxXst]*)*$`)
)

// checkLiteral returns what is wrong with a literal value for spec, or "".
func checkLiteral(spec ArgSpec, v *Value) string {
	if v == nil || v.Kind == Text || v.Kind == Null || spec.Type == "any" || spec.Type == "" {
		return ""
	}
	got := literalName(v)
	switch spec.Type {
	case "string":
		if v.Kind != Scalar {
			return "want a string, got " + got
		}
	case "bool":
		if v.Kind != Scalar {
			return "want true or false, got " + got
		}
		switch x := v.Scalar.(type) {
		case bool:
		case int:
			if x != 0 && x != 1 {
				return "want true or false, got " + got
			}
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "yes", "no", "true", "false", "on", "off", "1", "0", "y", "n":
			default:
				return "want true or false, got " + got
			}
		default:
			return "want true or false, got " + got
		}
	case "int":
		if v.Kind != Scalar {
			return "want a whole number, got " + got
		}
		switch x := v.Scalar.(type) {
		case int:
		case float64:
			if x != float64(int(x)) {
				return "want a whole number, got " + got
			}
		case string:
			if _, err := strconv.Atoi(strings.TrimSpace(x)); err != nil {
				return "want a whole number, got " + got
			}
		default:
			return "want a whole number, got " + got
		}
	case "float":
		if v.Kind != Scalar {
			return "want a number, got " + got
		}
		switch x := v.Scalar.(type) {
		case int, float64:
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
				return "want a number, got " + got
			}
		default:
			return "want a number, got " + got
		}
	case "mode":
		if v.Kind != Scalar {
			return "want a file mode (0644 or u=rw,g=r,o=), got " + got
		}
		switch x := v.Scalar.(type) {
		case int:
			if x > 0o7777 {
				if _, err := strconv.ParseUint(strconv.Itoa(x), 8, 32); err != nil || x > 7777 {
					return "want a file mode (0644 or u=rw,g=r,o=), got " + got
				}
			}
		case string:
			s := strings.TrimSpace(x)
			if !octalModeRe.MatchString(s) && !symbolicModeRe.MatchString(s) {
				return "want a file mode (0644 or u=rw,g=r,o=), got " + got
			}
		default:
			return "want a file mode (0644 or u=rw,g=r,o=), got " + got
		}
	case "duration":
		if v.Kind != Scalar {
			return "want a duration (seconds, or 30s, 2m), got " + got
		}
		switch x := v.Scalar.(type) {
		case int, float64:
		case string:
			s := strings.TrimSpace(x)
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				if _, err := time.ParseDuration(s); err != nil {
					return "want a duration (seconds, or 30s, 2m), got " + got
				}
			}
		default:
			return "want a duration (seconds, or 30s, 2m), got " + got
		}
	case "list":
		if v.Kind == Map {
			return "want a list, got " + got
		}
		if v.Kind == Scalar {
			switch v.Scalar.(type) {
			case string, int:
			default:
				return "want a list, got " + got
			}
		}
	case "map":
		if v.Kind != Map {
			return "want a mapping, got " + got
		}
	}
	if len(spec.Choices) > 0 && v.Kind == Scalar {
		s := fmt.Sprint(v.Scalar)
		if !contains(spec.Choices, s) {
			msg := fmt.Sprintf("%q is not one of %s", s, strings.Join(spec.Choices, ", "))
			if sg := diag.Suggest(s, spec.Choices); sg != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sg)
			}
			return msg
		}
	}
	return ""
}

func literalName(v *Value) string {
	switch v.Kind {
	case List:
		return "a list"
	case Map:
		return "a mapping"
	case Null:
		return "null"
	}
	switch x := v.Scalar.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v.Scalar)
}

// checkNotify reports notify names that match no handler name or listen
// topic of the play.
func (p *pbParser) checkNotify(play *Play) {
	var known []string
	walk(play.Handlers, func(t *Task) {
		if t.Name != "" {
			known = append(known, t.Name)
		}
		known = append(known, t.Listen...)
	})
	// Ansible renders notify names and handler names before matching them;
	// a name with {{ }} on either side can only be matched when the run
	// renders it.
	templated := false
	for _, k := range known {
		templated = templated || HasTemplate(k)
	}
	check := func(t *Task) {
		for i, name := range t.Notify {
			if contains(known, name) || HasTemplate(name) || templated {
				continue
			}
			pos := t.Pos
			if ps := p.notifyPos[t]; i < len(ps) {
				pos = ps[i]
			}
			msg := fmt.Sprintf("notify: no handler named %q", name)
			if s := diag.Suggest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.ds.Addf(pos, "%s", msg)
		}
	}
	walk(play.Tasks, check)
	walk(play.Handlers, check)
}

// walk calls f for every task, blocks and their children included.
func walk(ts []*Task, f func(*Task)) {
	for _, t := range ts {
		f(t)
		walk(t.Block, f)
		walk(t.Rescue, f)
		walk(t.Always, f)
	}
}

// Eval renders v with vars: templates are rendered (a lone "{{ x }}" keeps
// its type), mappings become map[string]any and lists []any.
func (v *Value) Eval(vars Vars) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch v.Kind {
	case Null:
		return nil, nil
	case Scalar:
		return v.Scalar, nil
	case Text:
		return v.Tmpl.Eval(vars)
	case List:
		out := make([]any, 0, len(v.List))
		for _, x := range v.List {
			e, err := x.Eval(vars)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case Map:
		out := make(map[string]any, len(v.Map))
		for _, en := range v.Map {
			e, err := en.Value.Eval(vars)
			if err != nil {
				return nil, err
			}
			out[en.Key] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: unknown value kind %d", v.Pos, v.Kind)
}

// Names lists the top-level variable names v's templates read.
func (v *Value) Names() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range v.Reads() {
		if !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, r.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Reads lists the names v's templates read, with where each is read.
func (v *Value) Reads() []NamePos {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case Text:
		return v.Tmpl.Reads()
	case List:
		var out []NamePos
		for _, x := range v.List {
			out = append(out, x.Reads()...)
		}
		return out
	case Map:
		var out []NamePos
		for _, e := range v.Map {
			out = append(out, e.Value.Reads()...)
		}
		return out
	}
	return nil
}

// LoadVarsFile reads a vars file: a YAML mapping of names to values.
// Strings holding {{ }} stay raw (they are rendered when used) but must
// parse; every problem is reported with its position.
func LoadVarsFile(path string) (map[string]any, diag.Diagnostics) {
	entries, ds := LoadVarsEntries(path)
	if len(ds) > 0 {
		return nil, ds
	}
	out := make(map[string]any, len(entries))
	for _, e := range entries {
		out[e.Key] = e.Value.Raw()
	}
	return out, nil
}

// LoadVarsEntries reads a vars file as entries, with templates compiled.
func LoadVarsEntries(path string) ([]*Entry, diag.Diagnostics) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, diag.Diagnostics{{Pos: Pos{File: path}, Msg: err.Error()}}
	}
	p := &pbParser{path: path, src: b}
	root, ok := p.document()
	if !ok {
		if len(p.ds) == 1 && p.ds[0].Msg == "the file is empty" {
			return nil, nil
		}
		return nil, p.ds
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		p.errf(root, "a vars file is a mapping of names to values, not %s", kindName(root))
		return nil, p.ds
	}
	entries := p.entries(root, "vars file", true)
	p.ds.Sort()
	return entries, p.ds
}

// Raw returns v as plain Go values with templated strings unrendered.
func (v *Value) Raw() any {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case Scalar:
		return v.Scalar
	case Text:
		return v.Tmpl.Src
	case List:
		out := make([]any, 0, len(v.List))
		for _, x := range v.List {
			out = append(out, x.Raw())
		}
		return out
	case Map:
		out := make(map[string]any, len(v.Map))
		for _, e := range v.Map {
			out[e.Key] = e.Value.Raw()
		}
		return out
	}
	return nil
}
