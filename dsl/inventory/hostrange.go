package inventory

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxRangeHosts caps what one host line may expand to, so a typo such as
// web[1:100000000] is an error instead of an exhausted machine; maxHosts
// caps the whole inventory. (Variables so the fuzz targets can lower them.)
var (
	maxRangeHosts = 100000
	maxHosts      = 1000000
)

// asciiLetters is Python's string.ascii_letters: Ansible's alphabetic ranges
// walk it in this order, so [x:B] is x y z A B.
const asciiLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// rangeError is a bad [begin:end:step] in a host name; Offset is the byte
// offset of its '[' within the host pattern, for the column.
type rangeError struct {
	Offset int
	Msg    string
}

func (e *rangeError) Error() string { return e.Msg }

// expandHostRange expands every [begin:end] or [begin:end:step] in pattern
// the way Ansible does (kcm-[1:3], web[01:10], db-[a:c], [1:10:2]), but
// refuses what Ansible silently turns into nothing or into a traceback: a
// reversed range, letters mixed with numbers, a zero or negative step.
func expandHostRange(pattern string) ([]string, error) {
	return expandRange(pattern, pattern, 0)
}

// expandRange expands the ranges of pattern, the part of full from byte
// offset base on (messages name the whole host pattern).
func expandRange(full, pattern string, base int) ([]string, error) {
	open := strings.IndexByte(pattern, '[')
	if open < 0 {
		return []string{pattern}, nil
	}
	closeRel := strings.IndexByte(pattern[open:], ']')
	if closeRel < 0 {
		return nil, &rangeError{base + open, fmt.Sprintf("bad host range in %q: '[' without ']'", full)}
	}
	head, body, tail := pattern[:open], pattern[open+1:open+closeRel], pattern[open+closeRel+1:]
	bad := func(format string, args ...any) error {
		return &rangeError{base + open, fmt.Sprintf("bad host range [%s] in %q: ", body, full) + fmt.Sprintf(format, args...)}
	}
	bounds := strings.Split(body, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, bad("want begin:end or begin:end:step")
	}
	beg, end := bounds[0], bounds[1]
	step := 1
	if len(bounds) == 3 {
		s, err := strconv.Atoi(bounds[2])
		if err != nil || s <= 0 {
			return nil, bad("step %q is not a positive number", bounds[2])
		}
		step = s
	}
	if beg == "" {
		beg = "0" // Ansible's rule: [:3] counts from 0
	}
	if end == "" {
		return nil, bad("no end value")
	}
	var names []string
	bi, ei := letterIndex(beg), letterIndex(end)
	switch {
	case bi >= 0 && ei >= 0:
		if bi > ei {
			return nil, bad("begin %q comes after end %q", beg, end)
		}
		for i := bi; i <= ei; i += step {
			names = append(names, asciiLetters[i:i+1])
		}
	case isDigits(beg) && isDigits(end):
		b, err1 := strconv.Atoi(beg)
		e, err2 := strconv.Atoi(end)
		if err1 != nil || err2 != nil {
			return nil, bad("number too large")
		}
		width := 0
		if beg[0] == '0' && len(beg) > 1 {
			// a leading zero asks for zero padding to that width
			width = len(beg)
			if len(end) != width {
				return nil, bad("begin %q and end %q must have the same width for zero padding", beg, end)
			}
		}
		if b > e {
			return nil, bad("begin %d comes after end %d", b, e)
		}
		if (e-b)/step+1 > maxRangeHosts {
			return nil, bad("expands to more than %d hosts", maxRangeHosts)
		}
		for i := b; i <= e; i += step {
			names = append(names, fmt.Sprintf("%0*d", width, i))
		}
	case (isLetters(beg) && isDigits(end)) || (isDigits(beg) && isLetters(end)):
		return nil, bad("mixes letters and numbers")
	case isLetters(beg) && isLetters(end):
		return nil, bad("a letter range takes single letters, like [a:f]")
	default:
		return nil, bad("begin and end must be numbers or single letters")
	}
	tails, err := expandRange(full, tail, base+len(pattern)-len(tail))
	if err != nil {
		return nil, err
	}
	if len(names)*len(tails) > maxRangeHosts {
		return nil, &rangeError{base + open, fmt.Sprintf("host pattern %q expands to more than %d hosts", full, maxRangeHosts)}
	}
	out := make([]string, 0, len(names)*len(tails))
	for _, n := range names {
		for _, t := range tails {
			out = append(out, head+n+t)
		}
	}
	return out, nil
}

func letterIndex(s string) int {
	if len(s) != 1 {
		return -1
	}
	return strings.IndexByte(asciiLetters, s[0])
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isLetters(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune(asciiLetters, r) {
			return false
		}
	}
	return true
}

// The address grammar of ansible/parsing/utils/addresses.py: a host (or host
// pattern with ranges) with an optional :port. Only used to split off the
// port; anything it does not recognise is kept whole as the host name, as
// Ansible does.
var (
	reBracketedHostPort = regexp.MustCompile(`^\[(.+)\]:([0-9]+)$`)
	reHostPort          = regexp.MustCompile(`^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$`)

	numericRange = `\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	hexRange     = `\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`
	ipv4Part     = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|` + numericRange + `)`
	reIPv4       = regexp.MustCompile(`(?i)^(?:` + ipv4Part + `\.){3}` + ipv4Part + `$`)
	h6           = `(?:[0-9a-f]{1,4}|` + hexRange + `)`
	reIPv6       = regexp.MustCompile(`(?i)^(?:` +
		`(?:` + h6 + `:){7}` + h6 + `|` +
		`(?:` + h6 + `:){1,6}:|` +
		`(?:` + h6 + `:)(?::` + h6 + `){1,6}|` +
		`(?:` + h6 + `:){2}(?::` + h6 + `){1,5}|` +
		`(?:` + h6 + `:){3}(?::` + h6 + `){1,4}|` +
		`(?:` + h6 + `:){4}(?::` + h6 + `){1,3}|` +
		`(?:` + h6 + `:){5}(?::` + h6 + `){1,2}|` +
		`(?:` + h6 + `:){6}(?::` + h6 + `)|` +
		`:(?::` + h6 + `){1,6}|` +
		h6 + `?::|` +
		`(?:0:){6}(?:` + h6 + `\.){3}` + h6 + `|` +
		`::(?:ffff:)?(?:` + h6 + `\.){3}` + h6 + `|` +
		`(?:0:){5}ffff:(?:` + h6 + `\.){3}` + h6 +
		`)$`)
	reAlnumRange = regexp.MustCompile(`(?i)^\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`)
)

// splitHostPort separates "host:port" (or "[host]:port") as Ansible's
// parse_address does; port is 0 when there is none.
func splitHostPort(s string) (host string, port int) {
	addr := s
	if m := reBracketedHostPort.FindStringSubmatch(addr); m != nil {
		addr, port = m[1], atoiOr0(m[2])
	}
	if m := reHostPort.FindStringSubmatch(addr); m != nil {
		addr, port = m[1], atoiOr0(m[2])
	}
	if reIPv4.MatchString(addr) || reIPv6.MatchString(addr) || isHostname(addr) {
		return addr, port
	}
	return s, 0
}

func atoiOr0(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

// isHostname reports whether s is dot-separated labels of word characters
// and '-' (ranges allowed), no label ending in '-' or '_'.
func isHostname(s string) bool {
	if s == "" {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" {
			return false
		}
		var last rune
		for i, first := 0, true; i < len(label); first = false {
			if label[i] == '[' {
				m := reAlnumRange.FindString(label[i:])
				if m == "" {
					return false
				}
				i += len(m)
				last = ']'
				continue
			}
			r, size := rune(label[i]), 1
			if r >= 0x80 {
				r, size = utf8.DecodeRuneInString(label[i:])
			}
			word := unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'
			if !word && (first || r != '-') {
				return false
			}
			last = r
			i += size
		}
		if last == '-' || last == '_' {
			return false
		}
	}
	return true
}
