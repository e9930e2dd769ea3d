package inventory

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Hosts returns the hosts an Ansible host pattern selects, in Ansible's
// order (each positive part in turn, each group's hosts in inventory order),
// each host once. The pattern language is Ansible's: all, *, a glob
// (kcm-*), a regex (~kcm-[12]), a host or group name, a subscript (web[0],
// web[1:]), joined by ',' or ':', with '&' for "and also in" and '!' for
// "but not in" (a:&b, a:!b). A part that matches nothing is ignored, as
// Ansible does; Match also returns a warning for it.
func (inv *Inventory) Hosts(pattern string) ([]*Host, error) {
	hosts, _, err := inv.Match(pattern)
	return hosts, err
}

// Match is Hosts plus Ansible's warnings, one per part of the pattern
// that matched no group and no host ("could not match supplied host
// pattern, ignoring: web9"), for the caller to print.
func (inv *Inventory) Match(pattern string) (hosts []*Host, warnings []string, err error) {
	return inv.evaluate(SplitPattern(pattern))
}

// Limit keeps the hosts that pattern selects, in the order given, as
// --limit does. pattern is a host pattern; a part "@file" reads patterns
// from file, one a line, as Ansible's --limit @retry-file does.
func (inv *Inventory) Limit(hosts []*Host, pattern string) ([]*Host, error) {
	var parts []string
	for _, p := range SplitPattern(pattern) {
		if !strings.HasPrefix(p, "@") {
			parts = append(parts, p)
			continue
		}
		data, err := os.ReadFile(p[1:])
		if err != nil {
			return nil, fmt.Errorf("--limit %s: %w", p, cleanPathErr(err))
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				parts = append(parts, line)
			}
		}
	}
	keep, _, err := inv.evaluate(parts)
	if err != nil {
		return nil, err
	}
	in := map[*Host]bool{}
	for _, h := range keep {
		in[h] = true
	}
	var out []*Host
	for _, h := range hosts {
		if in[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

// reSplitColon is Ansible's fallback split on ':' that keeps [x:y] whole.
var reSplitColon = regexp.MustCompile(`(?:[^\s:\[\]]|\[[^\]]*\])+`)

// SplitPattern splits a host pattern into its parts as Ansible does: on
// commas when there are any, else on colons outside [ ] (unless the whole
// pattern is one address such as an IPv6 one or host:port).
func SplitPattern(pattern string) []string {
	var parts []string
	if strings.Contains(pattern, ",") {
		parts = strings.Split(pattern, ",")
	} else if isAddress(pattern) {
		parts = []string{pattern}
	} else {
		parts = reSplitColon.FindAllString(pattern, -1)
	}
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isAddress reports whether Ansible's parse_address accepts s (with ranges).
func isAddress(s string) bool {
	addr := s
	if m := reBracketedHostPort.FindStringSubmatch(addr); m != nil {
		addr = m[1]
	}
	if m := reHostPort.FindStringSubmatch(addr); m != nil {
		addr = m[1]
	}
	return reIPv4.MatchString(addr) || reIPv6.MatchString(addr) || isHostname(addr)
}

// evaluate applies the parts as Ansible's _evaluate_patterns does: the
// plain parts in order, then the '&' ones, then the '!' ones; with no plain
// part, "all".
func (inv *Inventory) evaluate(parts []string) ([]*Host, []string, error) {
	var plain, and, not []string
	for _, p := range parts {
		switch p[0] {
		case '!':
			not = append(not, p)
		case '&':
			and = append(and, p)
		default:
			plain = append(plain, p)
		}
	}
	if len(plain) == 0 {
		plain = []string{"all"}
	}
	var hosts []*Host
	var warnings []string
	for _, p := range append(append(plain, and...), not...) {
		if h := inv.hostByKey[p]; h != nil {
			hosts = append(hosts, h)
			continue
		}
		that, warn, err := inv.matchOne(p)
		if err != nil {
			return nil, nil, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
		set := map[*Host]bool{}
		for _, h := range that {
			set[h] = true
		}
		switch p[0] {
		case '!':
			hosts = filterHosts(hosts, func(h *Host) bool { return !set[h] })
		case '&':
			hosts = filterHosts(hosts, func(h *Host) bool { return set[h] })
		default:
			hosts = append(hosts, that...)
		}
	}
	// each host once, first place kept
	seen := map[*Host]bool{}
	hosts = filterHosts(hosts, func(h *Host) bool {
		if seen[h] {
			return false
		}
		seen[h] = true
		return true
	})
	return hosts, warnings, nil
}

func filterHosts(hosts []*Host, keep func(*Host) bool) []*Host {
	out := hosts[:0:0]
	for _, h := range hosts {
		if keep(h) {
			out = append(out, h)
		}
	}
	return out
}

// reSubscript is a pattern with an index or slice: web[0], web[-1], web[1:],
// web[0:2] (and the old web[0-2]).
var reSubscript = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$`)

// matchOne matches one part, without its & or ! prefix.
func (inv *Inventory) matchOne(pattern string) ([]*Host, string, error) {
	if pattern[0] == '&' || pattern[0] == '!' {
		pattern = pattern[1:]
	}
	if pattern == "" {
		return nil, "", nil
	}
	expr := pattern
	var sub []int // nil: none; [i]: one index; [start, end]: a slice
	if pattern[0] != '~' {
		if m := reSubscript.FindStringSubmatch(pattern); m != nil {
			expr = m[1]
			if m[2] != "" {
				i, err := strconv.Atoi(m[2])
				if err != nil {
					return nil, "", fmt.Errorf("bad subscript in host pattern %q", pattern)
				}
				sub = []int{i}
			} else {
				start, err1 := strconv.Atoi(m[3])
				end := -1
				var err2 error
				if m[5] != "" {
					end, err2 = strconv.Atoi(m[5])
				}
				if err1 != nil || err2 != nil {
					return nil, "", fmt.Errorf("bad subscript in host pattern %q", pattern)
				}
				sub = []int{start, end}
			}
		}
	}
	hosts, warn, err := inv.enumerate(expr)
	if err != nil || len(hosts) == 0 || sub == nil {
		return hosts, warn, err
	}
	if len(sub) == 1 {
		i := sub[0]
		if i < 0 {
			i += len(hosts)
		}
		if i < 0 || i >= len(hosts) {
			return nil, "", fmt.Errorf("no hosts matched the subscripted pattern %q", pattern)
		}
		return []*Host{hosts[i]}, "", nil
	}
	start, end := sub[0], sub[1]
	if end == 0 {
		// Ansible reads [x:0] as the single index x
		if start >= len(hosts) {
			return nil, "", fmt.Errorf("no hosts matched the subscripted pattern %q", pattern)
		}
		return []*Host{hosts[start]}, "", nil
	}
	if end == -1 {
		end = len(hosts) - 1
	}
	// Python slicing: out-of-range bounds clamp
	lo, hi := min(start, len(hosts)), min(end+1, len(hosts))
	if lo >= hi {
		return []*Host{}, "", nil
	}
	return hosts[lo:hi], "", nil
}

// enumerate matches an expression against group names, then host names
// when no group matched or the expression is a glob or regex.
func (inv *Inventory) enumerate(expr string) ([]*Host, string, error) {
	re, err := compilePattern(expr)
	if err != nil {
		return nil, "", err
	}
	var hosts []*Host
	groupMatched := false
	for _, g := range inv.groups {
		if re.MatchString(g.name) {
			groupMatched = true
			hosts = append(hosts, g.allHosts...)
		}
	}
	if !groupMatched || expr[0] == '~' || strings.ContainsAny(expr, ".?*[") {
		for _, h := range inv.hosts {
			if re.MatchString(h.Name) {
				hosts = append(hosts, h)
			}
		}
	}
	if len(hosts) == 0 && isLocalhostName(expr) {
		hosts = append(hosts, inv.implicitLocalhost(expr))
	}
	if len(hosts) == 0 && !groupMatched && expr != "all" {
		return nil, "could not match supplied host pattern, ignoring: " + expr, nil
	}
	return hosts, "", nil
}

// compilePattern turns "~regex" (matched at the start, as Python's
// re.match) or a shell glob (matched whole, as fnmatch) into a regexp.
func compilePattern(expr string) (*regexp.Regexp, error) {
	if expr[0] == '~' {
		re, err := regexp.Compile(`^(?:` + expr[1:] + `)`)
		if err != nil {
			return nil, fmt.Errorf("invalid host list pattern %s: %v", expr, err)
		}
		return re, nil
	}
	re, err := regexp.Compile(`(?s)^(?:` + globToRegexp(expr) + `)$`)
	if err != nil {
		return nil, fmt.Errorf("invalid host list pattern %s: %v", expr, err)
	}
	return re, nil
}

// globToRegexp translates fnmatch syntax: * ? [seq] [!seq]; a '[' without
// its ']' is literal.
func globToRegexp(pat string) string {
	var b strings.Builder
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := i + 1
			if j < len(pat) && pat[j] == '!' {
				j++
			}
			if j < len(pat) && pat[j] == ']' {
				j++
			}
			for j < len(pat) && pat[j] != ']' {
				j++
			}
			if j >= len(pat) {
				b.WriteString(`\[`)
				continue
			}
			b.WriteString(globClass(pat[i+1 : j]))
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// globClass translates the inside of a [ ] set; an empty or reversed range
// matches nothing, as Python 3.11's fnmatch does.
func globClass(body string) string {
	neg := strings.HasPrefix(body, "!")
	if neg {
		body = body[1:]
	}
	var parts []string
	rs := []rune(body)
	for i := 0; i < len(rs); i++ {
		if i+2 < len(rs) && rs[i+1] == '-' {
			lo, hi := rs[i], rs[i+2]
			i += 2
			if lo > hi {
				continue
			}
			parts = append(parts, classChar(lo)+"-"+classChar(hi))
			continue
		}
		parts = append(parts, classChar(rs[i]))
	}
	if len(parts) == 0 {
		if neg {
			return "." // [!] with nothing left matches any character
		}
		return `[^\x00-\x{10FFFF}]` // matches nothing
	}
	if neg {
		return "[^" + strings.Join(parts, "") + "]"
	}
	return "[" + strings.Join(parts, "") + "]"
}

func classChar(r rune) string {
	if r < 0x80 && !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
		return fmt.Sprintf(`\x{%x}`, r)
	}
	return string(r)
}
