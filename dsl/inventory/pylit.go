package inventory

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// iniValue types a value from an INI inventory the way Ansible does: it runs
// Python's ast.literal_eval on it and keeps the raw string when that fails.
// So 22 is an int, True a bool, [1, 2] a list, 'a b' the string a b, while
// true, yes and 10.0.0.1 stay strings.
//
// Not reproduced: complex numbers, integers beyond int64 and \N{name}
// escapes stay raw strings; sets become lists in source order.
func iniValue(s string) any {
	if v, ok := pyLiteral(s); ok {
		return v
	}
	return s
}

// pyLiteral parses s as a Python literal expression; ok is false when
// literal_eval would raise.
func pyLiteral(s string) (v any, ok bool) {
	p := &pyParser{s: strings.TrimLeft(s, " \t")}
	v, ok = p.testList(true)
	if !ok {
		return nil, false
	}
	p.space()
	return v, p.i == len(p.s)
}

type pyParser struct {
	s     string
	i     int
	depth int
}

// space skips blanks and a trailing # comment, as Python's tokenizer does.
func (p *pyParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\f':
			p.i++
		case '\n', '\r':
			if p.depth == 0 {
				return
			}
			p.i++
		case '#':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		default:
			return
		}
	}
}

func (p *pyParser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// testList parses "a" or "a, b, ..." (a tuple, which Ansible stores as a
// list). top allows the bare tuple form at the outermost level only.
func (p *pyParser) testList(top bool) (any, bool) {
	first, ok := p.item()
	if !ok {
		return nil, false
	}
	if !top || p.peek() != ',' {
		return first, true
	}
	list := []any{first}
	for p.peek() == ',' {
		p.i++
		if c := p.peek(); c == 0 {
			break
		}
		v, ok := p.item()
		if !ok {
			return nil, false
		}
		list = append(list, v)
	}
	return list, true
}

// item is one value, with an optional unary sign on a number.
func (p *pyParser) item() (any, bool) {
	if p.depth > 100 {
		return nil, false
	}
	c := p.peek()
	if c == '-' || c == '+' {
		p.i++
		p.space()
		start := p.i
		v, ok := p.number()
		if !ok || start == p.i {
			return nil, false
		}
		if c == '-' {
			switch n := v.(type) {
			case int:
				v = -n
			case float64:
				v = -n
			}
		}
		return v, p.afterItem()
	}
	v, ok := p.atom()
	if !ok {
		return nil, false
	}
	return v, p.afterItem()
}

// afterItem refuses operators: literal_eval accepts no arithmetic we keep.
func (p *pyParser) afterItem() bool {
	switch p.peek() {
	case 0, ',', ')', ']', '}', ':':
		return true
	}
	return false
}

func (p *pyParser) atom() (any, bool) {
	c := p.peek()
	switch {
	case c == 0:
		return nil, false
	case c >= '0' && c <= '9' || c == '.':
		return p.number()
	case c == '"' || c == '\'':
		return p.strings("")
	case c == '[':
		p.i++
		p.depth++
		defer func() { p.depth-- }()
		list, ok := p.seq(']')
		return list, ok
	case c == '(':
		p.i++
		p.depth++
		defer func() { p.depth-- }()
		if p.peek() == ')' {
			p.i++
			return []any{}, true
		}
		v, ok := p.item()
		if !ok {
			return nil, false
		}
		switch p.peek() {
		case ')':
			p.i++
			return v, true
		case ',':
			p.i++
			rest, ok := p.seq(')')
			if !ok {
				return nil, false
			}
			return append([]any{v}, rest...), true
		}
		return nil, false
	case c == '{':
		p.i++
		p.depth++
		defer func() { p.depth-- }()
		return p.braces()
	}
	// a name: True, False, None, set(), or a string prefix
	start := p.i
	for p.i < len(p.s) {
		r, size := utf8.DecodeRuneInString(p.s[p.i:])
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			break
		}
		p.i += size
	}
	name := p.s[start:p.i]
	if p.i < len(p.s) && (p.s[p.i] == '"' || p.s[p.i] == '\'') {
		return p.strings(name)
	}
	switch name {
	case "True":
		return true, true
	case "False":
		return false, true
	case "None":
		return nil, true
	case "set":
		if p.peek() == '(' {
			p.i++
			if p.peek() == ')' {
				p.i++
				return []any{}, true
			}
		}
	}
	return nil, false
}

// seq parses items up to close, allowing a trailing comma.
func (p *pyParser) seq(close byte) ([]any, bool) {
	list := []any{}
	for {
		if p.peek() == close {
			p.i++
			return list, true
		}
		v, ok := p.item()
		if !ok {
			return nil, false
		}
		list = append(list, v)
		switch p.peek() {
		case ',':
			p.i++
		case close:
		default:
			return nil, false
		}
	}
}

// braces parses a dict or a set after '{'.
func (p *pyParser) braces() (any, bool) {
	if p.peek() == '}' {
		p.i++
		return map[string]any{}, true
	}
	first, ok := p.item()
	if !ok {
		return nil, false
	}
	if p.peek() != ':' {
		// a set: unique hashable members, kept in source order
		members := []any{first}
		for p.peek() == ',' {
			p.i++
			if p.peek() == '}' {
				break
			}
			v, ok := p.item()
			if !ok {
				return nil, false
			}
			members = append(members, v)
		}
		if p.peek() != '}' {
			return nil, false
		}
		p.i++
		var out []any
		seen := map[string]bool{}
		for _, m := range members {
			k, ok := pyKey(m)
			if !ok {
				return nil, false
			}
			if !seen[k] {
				seen[k] = true
				out = append(out, m)
			}
		}
		return out, true
	}
	m := map[string]any{}
	key := first
	for {
		p.i++ // ':'
		v, ok := p.item()
		if !ok {
			return nil, false
		}
		k, ok := pyKey(key)
		if !ok {
			return nil, false
		}
		m[k] = v
		switch p.peek() {
		case ',':
			p.i++
			if p.peek() == '}' {
				p.i++
				return m, true
			}
		case '}':
			p.i++
			return m, true
		default:
			return nil, false
		}
		if key, ok = p.item(); !ok || p.peek() != ':' {
			return nil, false
		}
	}
}

// pyKey spells a hashable literal as Python's str() would, for a map key.
func pyKey(v any) (string, bool) {
	switch k := v.(type) {
	case string:
		return k, true
	case int:
		return strconv.Itoa(k), true
	case float64:
		return pyFloatStr(k), true
	case bool:
		if k {
			return "True", true
		}
		return "False", true
	case nil:
		return "None", true
	}
	return "", false
}

// number parses a Python int or float literal (underscores, 0x, 0o, 0b).
func (p *pyParser) number() (any, bool) {
	s := p.s[p.i:]
	n := 0
	for n < len(s) && (isAlnum(s[n]) || s[n] == '_' || s[n] == '.' ||
		(n > 0 && (s[n] == '+' || s[n] == '-') && (s[n-1] == 'e' || s[n-1] == 'E') && !isHexPrefixed(s))) {
		n++
	}
	lit := s[:n]
	p.i += n
	if lit == "" {
		return nil, false
	}
	if v, ok := pyInt(lit); ok {
		return v, true
	}
	if v, ok := pyFloat(lit); ok {
		return v, true
	}
	return nil, false
}

func isHexPrefixed(s string) bool {
	return len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// digitsOK checks Python's digit grouping: digits with single underscores
// between them.
func digitsOK(s string, valid func(byte) bool) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '_' {
			if s[i-1] == '_' {
				return false
			}
		} else if !valid(s[i]) {
			return false
		}
	}
	return true
}

func isDec(c byte) bool { return c >= '0' && c <= '9' }

func pyInt(lit string) (int, bool) {
	base, body := 10, lit
	if len(lit) > 1 && lit[0] == '0' {
		switch lit[1] {
		case 'x', 'X':
			base, body = 16, lit[2:]
		case 'o', 'O':
			base, body = 8, lit[2:]
		case 'b', 'B':
			base, body = 2, lit[2:]
		}
	}
	body = strings.TrimPrefix(body, "_") // 0x_1f is valid
	valid := map[int]func(byte) bool{
		16: func(c byte) bool { return isDec(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' },
		10: isDec,
		8:  func(c byte) bool { return c >= '0' && c <= '7' },
		2:  func(c byte) bool { return c == '0' || c == '1' },
	}[base]
	if !digitsOK(body, valid) {
		return 0, false
	}
	clean := strings.ReplaceAll(body, "_", "")
	if base == 10 && len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
		return 0, false // Python 3 refuses 0123
	}
	n, err := strconv.ParseInt(clean, base, 64)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

func pyFloat(lit string) (float64, bool) {
	mant, exp := lit, ""
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		mant, exp = lit[:i], lit[i+1:]
		exp = strings.TrimLeft(exp, "+-")
		if len(lit)-len(mant)-1-len(exp) > 1 || !digitsOK(exp, isDec) {
			return 0, false
		}
	}
	intPart, frac, hasDot := strings.Cut(mant, ".")
	if !hasDot && exp == "" {
		return 0, false
	}
	if intPart == "" && frac == "" {
		return 0, false
	}
	if intPart != "" && !digitsOK(intPart, isDec) || frac != "" && !digitsOK(frac, isDec) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(lit, "_", ""), 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// strings parses one string literal and any adjacent ones ('a' 'b' is 'ab').
func (p *pyParser) strings(prefix string) (any, bool) {
	var out strings.Builder
	bytesKind := -1
	for {
		raw, isBytes := false, false
		switch strings.ToLower(prefix) {
		case "":
		case "r":
			raw = true
		case "u":
		case "b":
			isBytes = true
		case "br", "rb":
			raw, isBytes = true, true
		default:
			return nil, false // f-strings and unknown prefixes are not literals
		}
		kind := 0
		if isBytes {
			kind = 1
		}
		if bytesKind >= 0 && kind != bytesKind {
			return nil, false // Python refuses mixing bytes and str
		}
		bytesKind = kind
		s, ok := p.quoted(raw, isBytes)
		if !ok {
			return nil, false
		}
		out.WriteString(s)
		// another literal directly after? (optionally with its own prefix)
		save := p.i
		p.space()
		start := p.i
		for p.i < len(p.s) && isAlnum(p.s[p.i]) && p.i-start < 2 {
			p.i++
		}
		if p.i < len(p.s) && (p.s[p.i] == '"' || p.s[p.i] == '\'') {
			prefix = p.s[start:p.i]
			continue
		}
		p.i = save
		return out.String(), true
	}
}

// quoted parses a quoted string body at p.i (the opening quote).
func (p *pyParser) quoted(raw, isBytes bool) (string, bool) {
	q := p.s[p.i]
	delim := string(q)
	if strings.HasPrefix(p.s[p.i:], strings.Repeat(delim, 3)) {
		delim = strings.Repeat(delim, 3)
	}
	p.i += len(delim)
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			return "", false
		}
		if strings.HasPrefix(p.s[p.i:], delim) {
			p.i += len(delim)
			return b.String(), true
		}
		c := p.s[p.i]
		if c == '\n' && len(delim) == 1 {
			return "", false
		}
		if isBytes && c >= 0x80 {
			return "", false
		}
		if c != '\\' {
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", false
		}
		e := p.s[p.i+1]
		if raw {
			// a raw string keeps the backslash, but \' still does not end it
			b.WriteByte('\\')
			b.WriteByte(e)
			p.i += 2
			continue
		}
		p.i += 2
		switch e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte(8)
		case 'f':
			b.WriteByte(12)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte(11)
		case '0', '1', '2', '3', '4', '5', '6', '7':
			n := int(e - '0')
			for k := 0; k < 2 && p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '7'; k++ {
				n = n*8 + int(p.s[p.i]-'0')
				p.i++
			}
			if isBytes {
				b.WriteByte(byte(n))
			} else {
				b.WriteRune(rune(n))
			}
		case 'x', 'u', 'U':
			width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if isBytes && e != 'x' {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			if p.i+width > len(p.s) {
				return "", false
			}
			n, err := strconv.ParseUint(p.s[p.i:p.i+width], 16, 32)
			if err != nil || n > unicode.MaxRune {
				return "", false
			}
			p.i += width
			if isBytes {
				b.WriteByte(byte(n))
			} else {
				b.WriteRune(rune(n))
			}
		case 'N':
			if isBytes {
				b.WriteString(`\N`)
				continue
			}
			return "", false // named characters: not reproduced
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
}

// pyFloatStr spells f as Python's str() does: 1.0, 0.001, 1e+16, 1.5e-07.
func pyFloatStr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
