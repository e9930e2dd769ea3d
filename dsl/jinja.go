package dsl

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Ansible playbooks are written in Jinja's expression syntax; kplay evaluates
// them with expr-lang/expr. The two languages agree on most of what playbooks
// use (and, or, not, ==, in, a.b, a['b'], [1, 2], {'k': v}, x | f(y)); this
// file rewrites, token by token, the Jinja forms expr does not know into expr
// forms with the same meaning, and refuses the rest with the kplay spelling.
// It keeps, for every rune it emits, the offset of the rune it came from, so
// that errors point into the text the user wrote.

type jtokKind int

const (
	jIdent jtokKind = iota
	jNumber
	jString
	jOp
	jEOF
)

type jtok struct {
	kind jtokKind
	text string
	off  int // rune offset in the original source
}

// syntaxError is an error at a rune offset of an expression's source.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// lexJinja splits src into tokens. It only has to be good enough to find the
// forms that need rewriting; expr's own parser judges the result.
func lexJinja(src []rune) ([]jtok, error) {
	var toks []jtok
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '\'' || c == '"' || c == '`':
			start := i
			i++
			for i < len(src) && src[i] != c {
				if src[i] == '\\' && c != '`' {
					i++
				}
				i++
			}
			if i >= len(src) {
				return nil, &syntaxError{start, "unterminated string"}
			}
			i++
			toks = append(toks, jtok{jString, string(src[start:i]), start})
		case unicode.IsDigit(c):
			start := i
			for i < len(src) && (unicode.IsDigit(src[i]) || src[i] == '_' || src[i] == 'x' || src[i] == 'X' ||
				(src[i] >= 'a' && src[i] <= 'f') || (src[i] >= 'A' && src[i] <= 'F') ||
				(src[i] == '.' && i+1 < len(src) && unicode.IsDigit(src[i+1])) ||
				((src[i] == '+' || src[i] == '-') && (src[i-1] == 'e' || src[i-1] == 'E'))) {
				i++
			}
			toks = append(toks, jtok{jNumber, string(src[start:i]), start})
		case c == '_' || c == '$' || unicode.IsLetter(c):
			start := i
			for i < len(src) && (src[i] == '_' || src[i] == '$' || unicode.IsLetter(src[i]) || unicode.IsDigit(src[i])) {
				i++
			}
			toks = append(toks, jtok{jIdent, string(src[start:i]), start})
		default:
			start := i
			two := ""
			if i+1 < len(src) {
				two = string(src[i : i+2])
			}
			switch two {
			case "==", "!=", "<=", ">=", "**", "//", "..", "?.", "??", "&&", "||":
				i += 2
				toks = append(toks, jtok{jOp, two, start})
				continue
			}
			if strings.ContainsRune("+-*/%<>!~|.,:?()[]{}=#;^", c) {
				i++
				toks = append(toks, jtok{jOp, string(c), start})
				continue
			}
			return nil, &syntaxError{start, fmt.Sprintf("unexpected character %q", c)}
		}
	}
	toks = append(toks, jtok{jEOF, "", len(src)})
	return toks, nil
}

// jinjaTests maps Jinja/Ansible test names (`x is NAME`) to the kplay function
// that implements them.
var jinjaTests = map[string]string{
	"defined": "defined", "undefined": "undefined",
	"none": "is_none", "succeeded": "succeeded", "success": "succeeded",
	"failed": "failed", "failure": "failed", "changed": "changed", "change": "changed",
	"skipped": "skipped", "skip": "skipped",
	"version": "version", "version_compare": "version",
	"match": "is_match", "search": "is_search", "regex": "is_search",
	"string": "is_string", "number": "is_number", "integer": "is_integer", "float": "is_float",
	"boolean": "is_boolean", "mapping": "is_mapping", "sequence": "is_sequence", "iterable": "is_sequence",
	"equalto": "is_eq", "eq": "is_eq", "sameas": "is_eq", "in": "is_in", "contains": "is_contains",
	"truthy": "is_truthy", "falsy": "is_falsy", "even": "is_even", "odd": "is_odd",
	"divisibleby": "is_divisibleby", "lower": "is_lower", "upper": "is_upper",
	"subset": "is_subset", "superset": "is_superset",
	"abs": "is_abs", "exists": "is_exists", "file": "is_file", "directory": "is_directory",
}

func testNames() []string {
	names := make([]string, 0, len(jinjaTests))
	for n := range jinjaTests {
		names = append(names, n)
	}
	return names
}

// translation is expr source plus, for each of its runes, the offset of the
// original rune it came from; cats marks the "+" operators that were "~".
type translation struct {
	n      int // runes in the original source
	src    string
	orig   []int
	cats   map[int]bool // rune offsets in src
	floors map[int]bool // the "/" operators that were "//"
}

func (t *translation) origOffset(off int) int {
	if off < 0 {
		return 0
	}
	if off >= len(t.orig) {
		return t.n // the end of the expression
	}
	return t.orig[off]
}

type jemitter struct {
	out    []rune
	orig   []int
	cats   map[int]bool
	floors map[int]bool
}

func (e *jemitter) emit(s string, off int) {
	if len(e.out) > 0 {
		e.out = append(e.out, ' ')
		e.orig = append(e.orig, off)
	}
	for _, r := range s {
		e.out = append(e.out, r)
		e.orig = append(e.orig, off)
	}
}

// emitTok emits a token keeping per-rune offsets, so a position inside a
// string literal stays exact.
func (e *jemitter) emitTok(t jtok) {
	if len(e.out) > 0 {
		e.out = append(e.out, ' ')
		e.orig = append(e.orig, t.off)
	}
	for i, r := range []rune(t.text) {
		e.out = append(e.out, r)
		e.orig = append(e.orig, t.off+i)
	}
}

type jframe struct {
	open   string
	call   bool // "(" of a call: name=value arguments are allowed
	kwOpen bool // a name=value argument is being emitted: close it at , or )
}

// translateJinja rewrites Jinja expression syntax into expr syntax.
func translateJinja(src string, escapes bool) (*translation, error) {
	runes := []rune(src)
	toks, err := lexJinja(runes)
	if err != nil {
		return nil, err
	}
	toks = append(inlineIfs(mapKeys(toks[:len(toks)-1])), toks[len(toks)-1])
	e := &jemitter{cats: map[int]bool{}, floors: map[int]bool{}}
	var stack []*jframe
	// operandEnd: the previous token ends an operand, so "(" is a call and
	// "if" would be Jinja's inline if.
	operandEnd := func(i int) bool { return i > 0 && endsOperand(toks[i-1]) }
	afterDot := func(i int) bool {
		return i > 0 && toks[i-1].kind == jOp && (toks[i-1].text == "." || toks[i-1].text == "?.")
	}
	closeKw := func() {
		if len(stack) > 0 && stack[len(stack)-1].kwOpen {
			e.out = append(e.out, ')')
			e.orig = append(e.orig, e.orig[len(e.orig)-1])
			stack[len(stack)-1].kwOpen = false
		}
	}
	var pending []int // close a bare test argument after these tokens
	for i := 0; i < len(toks); i++ {
		for len(pending) > 0 && pending[len(pending)-1] < i {
			e.emit(")", toks[i].off)
			pending = pending[:len(pending)-1]
		}
		t := toks[i]
		next := toks[min(i+1, len(toks)-1)]
		switch t.kind {
		case jEOF:
			continue
		case jIdent:
			if afterDot(i) {
				e.emitTok(t)
				continue
			}
			switch t.text {
			case "True":
				e.emit("true", t.off)
				continue
			case "False":
				e.emit("false", t.off)
				continue
			case "None":
				e.emit("nil", t.off)
				continue
			case "none":
				if !(next.kind == jOp && next.text == "(") {
					e.emit("nil", t.off)
					continue
				}
			case "is":
				j := i + 1
				negate := false
				if toks[j].kind == jIdent && toks[j].text == "not" {
					negate = true
					j++
				}
				name := toks[j]
				if name.kind != jIdent {
					return nil, &syntaxError{name.off, "expected a test name after \"is\" (defined, succeeded, version, ...)"}
				}
				fn, ok := jinjaTests[name.text]
				if !ok {
					msg := fmt.Sprintf("unknown test %q", name.text)
					if s := suggest(name.text, testNames()); s != "" {
						msg += fmt.Sprintf(" (did you mean %q?)", s)
					}
					return nil, &syntaxError{name.off, msg}
				}
				if negate {
					fn = "not_" + fn
				}
				e.emit("|", t.off)
				e.emit(fn, name.off)
				if !(toks[j+1].kind == jOp && toks[j+1].text == "(") {
					// `x is divisibleby 3`, `x is in xs`: one argument
					// without parentheses.
					if end := bareArg(toks, j+1); end >= 0 {
						e.emit("(", name.off)
						pending = append(pending, end)
					} else {
						e.emit("()", name.off)
					}
				}
				i = j
				continue
			case "if":
				if operandEnd(i) {
					return nil, &syntaxError{t.off, "cannot read this inline `a if cond else b`: write `cond ? a : b`"}
				}
			case "else":
				if operandEnd(i) && !(next.kind == jOp && next.text == "{") {
					return nil, &syntaxError{t.off, "`else` without `if`"}
				}
			case "lookup", "query", "q":
				if next.kind == jOp && next.text == "(" {
					return nil, &syntaxError{t.off, fmt.Sprintf("%s() plugins are not supported: pass the value as a variable (vars, vars_files or -e)", t.text)}
				}
			}
			// name=value inside a call's parentheses: Jinja keyword argument.
			if next.kind == jOp && next.text == "=" && len(stack) > 0 && stack[len(stack)-1].call &&
				i > 0 && toks[i-1].kind == jOp && (toks[i-1].text == "(" || toks[i-1].text == ",") {
				e.emit(fmt.Sprintf("_kw(%q,", t.text), t.off)
				stack[len(stack)-1].kwOpen = true
				i++ // skip "="
				continue
			}
			e.emitTok(t)
		case jNumber:
			e.emitTok(t)
		case jString:
			if strings.HasPrefix(t.text, "`") {
				e.emitTok(t)
				continue
			}
			// Re-quote as a Go-style literal expr reads unambiguously; the
			// runes keep the offsets of the original literal.
			e.emitTok(jtok{kind: jString, text: strconv.Quote(jinjaString(t.text, escapes)), off: t.off})
		case jOp:
			switch t.text {
			case "~":
				e.emit("+", t.off)
				e.cats[len(e.out)-1] = true
				continue
			case "//":
				e.emit("/", t.off)
				e.floors[len(e.out)-1] = true
				continue
			case "=":
				if i >= 2 && toks[i-2].kind == jIdent && toks[i-2].text == "let" {
					break
				}
				return nil, &syntaxError{t.off, "`=` is not an operator: write `==` to compare"}
			case "(", "[", "{":
				stack = append(stack, &jframe{open: t.text, call: t.text == "(" && operandEnd(i)})
				e.emitTok(t)
				continue
			case ")", "]", "}":
				closeKw()
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
				e.emitTok(t)
				continue
			case ",":
				closeKw()
				e.emitTok(t)
				continue
			case ".":
				// item.0 is item[0] in Jinja.
				if next.kind == jNumber && !strings.ContainsAny(next.text, ".eExX") {
					e.emit("[", t.off)
					e.emitTok(next)
					e.emit("]", next.off)
					i++
					continue
				}
			case "|":
				e.emitTok(t)
				// x | ansible.builtin.to_json is x | to_json; filters from
				// other collections are not there.
				if next.kind == jIdent && i+4 < len(toks) && toks[i+2].text == "." {
					if next.text == "ansible" && toks[i+3].text == "builtin" && toks[i+4].text == "." && i+5 < len(toks) {
						i += 4
						next = toks[i+1]
					} else {
						return nil, &syntaxError{next.off, fmt.Sprintf("filter %s.%s...: only kplay's own filters (Ansible's built-in ones) exist", next.text, toks[i+3].text)}
					}
				}
				if next.kind == jIdent {
					name := next.text
					callNext := toks[min(i+2, len(toks)-1)]
					hasParens := callNext.kind == jOp && callNext.text == "("
					switch name {
					case "count":
						if !hasParens {
							name = "length"
						}
					case "map":
						// Jinja's map('filter') and map(attribute='x'), not
						// expr's map(xs, predicate).
						if hasParens {
							arg := toks[min(i+3, len(toks)-1)]
							arg2 := toks[min(i+4, len(toks)-1)]
							if arg.kind == jString || (arg.kind == jIdent && arg.text == "attribute" && arg2.text == "=") {
								name = "jmap"
							}
						}
					case "d":
						name = "default"
					}
					e.emit(name, next.off)
					i++
					if !hasParens {
						e.emit("()", next.off)
					}
				}
				continue
			}
			e.emitTok(t)
		}
	}
	return &translation{n: len(runes), src: string(e.out), orig: e.orig, cats: e.cats, floors: e.floors}, nil
}

// jinjaString decodes a quoted Jinja string literal. With escapes, Python's
// backslash escapes apply (\n, \t, \\, \', \xhh, \uhhhh; an unknown one
// such as \d stays as written, as in Python). Without, only an escaped quote
// is one; every other backslash is itself, as Ansible treats the string
// literals of playbook expressions.
func jinjaString(lit string, escapes bool) string {
	rs := []rune(lit)
	quote := rs[0]
	body := rs[1 : len(rs)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			b.WriteRune(c)
			continue
		}
		n := body[i+1]
		if n == quote {
			b.WriteRune(n)
			i++
			continue
		}
		if !escapes {
			b.WriteRune(c)
			continue
		}
		i++
		switch n {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		case '\'', '"':
			b.WriteRune(n)
		case '0':
			b.WriteByte(0)
		case 'x', 'u':
			width := 2
			if n == 'u' {
				width = 4
			}
			if i+width < len(body) {
				if v, err := strconv.ParseUint(string(body[i+1:i+1+width]), 16, 32); err == nil {
					b.WriteRune(rune(v))
					i += width
					continue
				}
			}
			b.WriteRune('\\')
			b.WriteRune(n)
		default:
			b.WriteRune('\\')
			b.WriteRune(n)
		}
	}
	return b.String()
}

// endsOperand reports whether t ends an operand, so that an `if` after it is
// Jinja's inline if rather than expr's `if c { a } else { b }`.
func endsOperand(t jtok) bool {
	switch t.kind {
	case jIdent:
		switch t.text {
		case "and", "or", "not", "in", "is", "if", "else", "let", "matches", "contains", "startsWith", "endsWith":
			return false
		}
		return true
	case jNumber, jString:
		return true
	case jOp:
		return t.text == ")" || t.text == "]" || t.text == "}"
	}
	return false
}

func isOpen(t jtok) bool  { return t.kind == jOp && (t.text == "(" || t.text == "[" || t.text == "{") }
func isClose(t jtok) bool { return t.kind == jOp && (t.text == ")" || t.text == "]" || t.text == "}") }

// inlineIfs rewrites Jinja's `a if c else b` into expr's `(c) ? (a) : (b)`.
// Both have the lowest precedence, so within a bracket group the operands
// run to the group's edges or to the commas and colons that separate its
// items. Without else, the value is null, as Jinja's undefined renders.
func inlineIfs(toks []jtok) []jtok {
	var out []jtok
	// Split the group into items at depth-0 separators.
	depth := 0
	start := 0
	for i := 0; i <= len(toks); i++ {
		if i < len(toks) {
			t := toks[i]
			if isOpen(t) {
				depth++
				continue
			}
			if isClose(t) {
				depth--
				continue
			}
			if depth != 0 || !(t.kind == jOp && (t.text == "," || t.text == ":" || t.text == ";")) {
				continue
			}
		}
		out = append(out, inlineIfItem(toks[start:i])...)
		if i < len(toks) {
			out = append(out, toks[i])
		}
		start = i + 1
	}
	return out
}

// inlineIfItem rewrites one item (no depth-0 separators inside).
func inlineIfItem(toks []jtok) []jtok {
	depth := 0
	ifAt, elseAt := -1, -1
	for i, t := range toks {
		switch {
		case isOpen(t):
			depth++
		case isClose(t):
			depth--
		case depth == 0 && t.kind == jIdent && t.text == "if" && ifAt < 0 && i > 0 && endsOperand(toks[i-1]) &&
			!(i > 0 && toks[i-1].kind == jOp && toks[i-1].text == "."):
			ifAt = i
		case depth == 0 && t.kind == jIdent && t.text == "else" && ifAt >= 0 && elseAt < 0:
			elseAt = i
		}
	}
	if ifAt < 0 {
		return groups(toks)
	}
	op := func(text string, off int) jtok { return jtok{kind: jOp, text: text, off: off} }
	a := toks[:ifAt]
	var c, b []jtok
	if elseAt < 0 {
		c = toks[ifAt+1:]
		b = []jtok{{kind: jIdent, text: "None", off: toks[ifAt].off}}
	} else {
		c = toks[ifAt+1 : elseAt]
		b = inlineIfItem(toks[elseAt+1:])
	}
	off := toks[ifAt].off
	var out []jtok
	out = append(out, op("(", off))
	out = append(out, groups(c)...)
	out = append(out, op(")", off), op("?", off), op("(", off))
	out = append(out, groups(a)...)
	out = append(out, op(")", off), op(":", off), op("(", off))
	out = append(out, b...)
	out = append(out, op(")", off))
	return out
}

// groups rewrites the inside of every bracket group in toks.
func groups(toks []jtok) []jtok {
	var out []jtok
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !isOpen(t) {
			out = append(out, t)
			continue
		}
		depth := 0
		j := i
		for ; j < len(toks); j++ {
			if isOpen(toks[j]) {
				depth++
			} else if isClose(toks[j]) {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		out = append(out, t)
		if j >= len(toks) { // unbalanced: expr's parser will say so
			out = append(out, inlineIfs(toks[i+1:])...)
			return out
		}
		out = append(out, inlineIfs(toks[i+1:j])...)
		out = append(out, toks[j])
		i = j
	}
	return out
}

// bareArg returns the index of the last token of the primary expression
// starting at toks[k] (a literal, a bracketed group, or a name with its
// .attr, [index] and (call) suffixes), or -1 when none starts there.
func bareArg(toks []jtok, k int) int {
	match := func(k int) int {
		depth := 0
		for j := k; j < len(toks); j++ {
			if isOpen(toks[j]) {
				depth++
			} else if isClose(toks[j]) {
				depth--
				if depth == 0 {
					return j
				}
			}
		}
		return -1
	}
	t := toks[k]
	switch {
	case t.kind == jNumber || t.kind == jString:
		return k
	case t.kind == jOp && t.text == "-" && toks[k+1].kind == jNumber:
		return k + 1
	case isOpen(t):
		return match(k)
	case t.kind == jIdent:
		switch t.text {
		case "and", "or", "not", "in", "is", "if", "else":
			return -1
		}
		end := k
		for end+1 < len(toks) {
			n := toks[end+1]
			switch {
			case n.kind == jOp && n.text == "." && end+2 < len(toks) && (toks[end+2].kind == jIdent || toks[end+2].kind == jNumber):
				end += 2
			case n.kind == jOp && (n.text == "[" || n.text == "("):
				m := match(end + 1)
				if m < 0 {
					return -1
				}
				end = m
			default:
				return end
			}
		}
		return end
	}
	return -1
}

// matchClose returns the index of the bracket closing toks[k], or -1.
func matchClose(toks []jtok, k int) int {
	depth := 0
	for j := k; j < len(toks); j++ {
		if isOpen(toks[j]) {
			depth++
		} else if isClose(toks[j]) {
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// mapKeys makes the keys of mapping literals expressions, as in Jinja:
// {item.key: item.value} reads item.key, where expr would take a bare name
// as text. A key that is an expression is written (key) for expr; quoted
// and numeric keys stay as they are.
func mapKeys(toks []jtok) []jtok {
	var out []jtok
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !(t.kind == jOp && t.text == "{") || (i > 0 && endsOperand(toks[i-1])) {
			out = append(out, t)
			continue
		}
		j := matchClose(toks, i)
		if j < 0 {
			out = append(out, toks[i:]...)
			return out
		}
		inner := mapKeys(toks[i+1 : j])
		out = append(out, t)
		depth := 0
		start := 0
		for k := 0; k <= len(inner); k++ {
			if k < len(inner) {
				if isOpen(inner[k]) {
					depth++
					continue
				}
				if isClose(inner[k]) {
					depth--
					continue
				}
				if depth != 0 || !(inner[k].kind == jOp && inner[k].text == ",") {
					continue
				}
			}
			out = append(out, mapItem(inner[start:k])...)
			if k < len(inner) {
				out = append(out, inner[k])
			}
			start = k + 1
		}
		out = append(out, toks[j])
		i = j
	}
	return out
}

func mapItem(item []jtok) []jtok {
	depth := 0
	for k, t := range item {
		switch {
		case isOpen(t):
			depth++
		case isClose(t):
			depth--
		case depth == 0 && t.kind == jOp && t.text == ":":
			key := item[:k]
			if len(key) == 0 {
				return item // expr's parser reports the missing key
			}
			if len(key) == 1 && (key[0].kind == jString || key[0].kind == jNumber) ||
				len(key) > 0 && key[0].kind == jOp && key[0].text == "(" && matchClose(key, 0) == len(key)-1 {
				return item
			}
			out := []jtok{{kind: jOp, text: "(", off: key[0].off}}
			out = append(out, key...)
			out = append(out, jtok{kind: jOp, text: ")", off: t.off})
			return append(out, item[k:]...)
		}
	}
	return item
}
