package modules

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"kplay/diag"
)

// Args are a task's arguments after templating and Normalize: every declared
// argument present has its declared Go type (string, bool, int, float64,
// fs.FileMode, time.Duration, []any, map[string]any), defaults filled in.
type Args map[string]any

// Normalize checks raw arguments against a module's declared Args: unknown
// names (with a suggestion), missing required ones, wrong types, choices. It
// converts values to their declared types and fills defaults. Every problem is
// returned, not just the first.
func Normalize(info Info, raw map[string]any) (Args, []error) {
	var errs []error
	byName := map[string]Arg{}
	for _, a := range info.Args {
		byName[a.Name] = a
		for _, al := range a.Aliases {
			byName[al] = a
		}
	}
	out := Args{}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a, ok := byName[k]
		if !ok && info.AnyArgs {
			out[k] = raw[k]
			continue
		}
		if !ok {
			names := make([]string, 0, len(byName))
			for n := range byName {
				names = append(names, n)
			}
			msg := fmt.Sprintf("%s: unknown argument %q", info.Name, k)
			if s := diag.Suggest(k, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, fmt.Errorf("%s", msg))
			continue
		}
		v, err := Convert(a.Type, raw[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: argument %q: %v", info.Name, k, err))
			continue
		}
		if len(a.Choices) > 0 {
			s := fmt.Sprint(v)
			found := false
			for _, c := range a.Choices {
				if c == s {
					found = true
				}
			}
			if !found {
				errs = append(errs, fmt.Errorf("%s: argument %q: %q is not one of %s", info.Name, k, s, strings.Join(a.Choices, ", ")))
				continue
			}
		}
		out[a.Name] = v
	}
	for _, a := range info.Args {
		if _, ok := out[a.Name]; ok {
			continue
		}
		if a.Required {
			errs = append(errs, fmt.Errorf("%s: missing required argument %q", info.Name, a.Name))
		} else if a.Default != nil {
			v, err := Convert(a.Type, a.Default)
			if err != nil {
				panic(fmt.Sprintf("modules: %s: bad default for %q: %v", info.Name, a.Name, err))
			}
			out[a.Name] = v
		}
	}
	return out, errs
}

// Convert turns a YAML or rendered value into the Go type of t.
func Convert(t ArgType, v any) (any, error) {
	switch t {
	case Any, "":
		return v, nil
	case String:
		switch x := v.(type) {
		case string:
			return x, nil
		case bool, int, int64, float64, uint64:
			return fmt.Sprint(x), nil
		}
	case Bool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "yes", "true", "on", "1", "y":
				return true, nil
			case "no", "false", "off", "0", "n", "":
				return false, nil
			}
		case int:
			return x != 0, nil
		}
	case Int:
		switch x := v.(type) {
		case int:
			return x, nil
		case int64:
			return int(x), nil
		case uint64:
			return int(x), nil
		case float64:
			if x == float64(int(x)) {
				return int(x), nil
			}
		case string:
			if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
				return n, nil
			}
		}
	case Float:
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
	case Mode:
		return parseMode(v)
	case Duration:
		switch x := v.(type) {
		case int:
			return time.Duration(x) * time.Second, nil
		case float64:
			return time.Duration(x * float64(time.Second)), nil
		case time.Duration:
			return x, nil
		case string:
			s := strings.TrimSpace(x)
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return time.Duration(f * float64(time.Second)), nil
			}
			if d, err := time.ParseDuration(s); err == nil {
				return d, nil
			}
		}
	case List:
		switch x := v.(type) {
		case []any:
			return x, nil
		case []string:
			out := make([]any, len(x))
			for i, s := range x {
				out[i] = s
			}
			return out, nil
		case string:
			// Ansible accepts "a,b" for list arguments.
			var out []any
			for _, s := range strings.Split(x, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			return out, nil
		case int:
			return []any{x}, nil
		}
	case Map:
		if x, ok := v.(map[string]any); ok {
			return x, nil
		}
	default:
		return nil, fmt.Errorf("unknown argument type %q", t)
	}
	return nil, fmt.Errorf("want %s, got %s", t, describe(v))
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%T %v", v, v)
	}
}

// parseMode accepts 0644 (YAML octal int), "0644", "644", and symbolic
// "u=rw,g=r,o=".
func parseMode(v any) (fs.FileMode, error) {
	switch x := v.(type) {
	case fs.FileMode:
		return x, nil
	case int:
		// YAML 1.1 reads 0644 as octal 420; a bare 644 is decimal 644, which
		// Ansible also takes as octal digits.
		if x > 0o7777 {
			if m, err := strconv.ParseUint(strconv.Itoa(x), 8, 32); err == nil && m <= 0o7777 {
				return fs.FileMode(m), nil
			}
			return 0, fmt.Errorf("mode %d out of range", x)
		}
		return fs.FileMode(x), nil
	case string:
		s := strings.TrimSpace(x)
		if m, err := strconv.ParseUint(s, 8, 32); err == nil {
			if m > 0o7777 {
				return 0, fmt.Errorf("mode %q out of range", s)
			}
			return fs.FileMode(m), nil
		}
		return parseSymbolicMode(s)
	}
	return 0, fmt.Errorf("want a file mode, got %s", describe(v))
}

func parseSymbolicMode(s string) (fs.FileMode, error) {
	var m fs.FileMode
	for _, part := range strings.Split(s, ",") {
		who, perms, ok := strings.Cut(part, "=")
		if !ok || who == "" {
			return 0, fmt.Errorf("mode %q: want octal (0644) or u=rw,g=r,o=", s)
		}
		var bits fs.FileMode
		for _, p := range perms {
			switch p {
			case 'r':
				bits |= 4
			case 'w':
				bits |= 2
			case 'x':
				bits |= 1
			default:
				return 0, fmt.Errorf("mode %q: unknown permission %q", s, p)
			}
		}
		for _, w := range who {
			switch w {
			case 'u':
				m |= bits << 6
			case 'g':
				m |= bits << 3
			case 'o':
				m |= bits
			case 'a':
				m |= bits<<6 | bits<<3 | bits
			default:
				return 0, fmt.Errorf("mode %q: unknown class %q", s, w)
			}
		}
	}
	return m, nil
}

// Str returns a string argument, "" when absent.
func (a Args) Str(name string) string { s, _ := a[name].(string); return s }

// Bool returns a bool argument, false when absent.
func (a Args) Bool(name string) bool { b, _ := a[name].(bool); return b }

// Int returns an int argument, 0 when absent.
func (a Args) Int(name string) int { n, _ := a[name].(int); return n }

// Float returns a float argument, 0 when absent.
func (a Args) Float(name string) float64 { f, _ := a[name].(float64); return f }

// FileMode returns a mode argument and whether it was given.
func (a Args) FileMode(name string) (fs.FileMode, bool) {
	m, ok := a[name].(fs.FileMode)
	return m, ok
}

// Dur returns a duration argument, 0 when absent.
func (a Args) Dur(name string) time.Duration { d, _ := a[name].(time.Duration); return d }

// Has reports whether the argument was given or defaulted.
func (a Args) Has(name string) bool { _, ok := a[name]; return ok }

// Strings returns a list argument as strings.
func (a Args) Strings(name string) []string {
	l, _ := a[name].([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// StrMap returns a map argument with values as strings.
func (a Args) StrMap(name string) map[string]string {
	m, _ := a[name].(map[string]any)
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}
