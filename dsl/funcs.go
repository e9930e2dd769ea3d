package dsl

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/parser/operator"
	"github.com/expr-lang/expr/vm/runtime"
	"gopkg.in/yaml.v3"
)

// undefined is what a missing variable or attribute reads as inside the
// first argument of defined/default; anywhere else a missing one is an error.
type undefined struct{ name string }

// undefErr is a strict read of something missing.
type undefErr struct {
	name string
	off  int
	attr bool
}

func (e *undefErr) Error() string {
	if e.attr {
		return fmt.Sprintf("no attribute %s", e.name)
	}
	return fmt.Sprintf("undefined variable %q", e.name)
}

// kwArg is a Jinja keyword argument (sort(attribute='name')).
type kwArg struct {
	name  string
	value any
}

type exprFunc = func(args ...any) (any, error)

// exprFuncs are kplay's functions and filters; `x | f(y)` is f(x, y).
var exprFuncs map[string]exprFunc

// pyMethods are the Python methods playbooks call on strings and dicts.
var pyMethods map[string]exprFunc

func init() {
	// In Jinja a filter (x | f) binds tighter than any operator: `a and x |
	// bool` is `a and (x | bool)`. expr gives its pipe the lowest precedence,
	// which would silently read that as `bool(a and x)`. kplay is the only
	// user of expr in the binary, so it raises the pipe's precedence once,
	// here, before any expression is parsed.
	operator.Binary["|"] = operator.Operator{Precedence: 200, Associativity: operator.Left}
	// Python's `not` binds looser than comparisons: `not x > 5` is
	// `not (x > 5)`, while expr would read `(not x) > 5`.
	operator.Unary["not"] = operator.Operator{Precedence: 16, Associativity: operator.Left}

	exprFuncs = map[string]exprFunc{
		// accessors the rewriter inserts
		"_get": fnGet(false), "_sget": fnGet(true),
		"_attr": fnAttr(false), "_sattr": fnAttr(true),
		"_method": fnMethod, "_in": fnIn, "_cat": fnCat, "_add": fnAdd,
		"_floordiv": fnFloorDiv,
		"_truthy":   func(a ...any) (any, error) { return truthy(a[0]), nil },
		"_not":      func(a ...any) (any, error) { return !truthy(a[0]), nil },
		"_kw":       func(a ...any) (any, error) { return kwArg{name: a[0].(string), value: a[1]}, nil },

		// tests, also callable as functions: defined(x), version(v, '1.2', '>=')
		"defined":   func(a ...any) (any, error) { return isDefined(a), nil },
		"undefined": func(a ...any) (any, error) { return !isDefined(a), nil },
		"succeeded": resultTest(func(r map[string]any) bool { return !truthy(r["failed"]) }),
		"failed":    resultTest(func(r map[string]any) bool { return truthy(r["failed"]) }),
		"changed":   resultTest(func(r map[string]any) bool { return truthy(r["changed"]) }),
		"skipped":   resultTest(func(r map[string]any) bool { return truthy(r["skipped"]) }),
		"version":   fnVersion,
		"is_none":   func(a ...any) (any, error) { return one(a) == nil, nil },
		"is_match":  fnRegexTest(true),
		"is_search": fnRegexTest(false),
		"is_string": func(a ...any) (any, error) { _, ok := one(a).(string); return ok, nil },
		"is_number": func(a ...any) (any, error) { _, ok := number(one(a)); return ok, nil },
		"is_integer": func(a ...any) (any, error) {
			switch one(a).(type) {
			case int, int64, uint64:
				return true, nil
			}
			return false, nil
		},
		"is_float":    func(a ...any) (any, error) { _, ok := one(a).(float64); return ok, nil },
		"is_boolean":  func(a ...any) (any, error) { _, ok := one(a).(bool); return ok, nil },
		"is_mapping":  func(a ...any) (any, error) { _, ok := one(a).(map[string]any); return ok, nil },
		"is_sequence": func(a ...any) (any, error) { _, ok := toList(one(a)); return ok, nil },
		"is_eq":       func(a ...any) (any, error) { return len(a) == 2 && runtime.Equal(a[0], a[1]), nil },
		"is_in": func(a ...any) (any, error) {
			if len(a) != 2 {
				return nil, fmt.Errorf("`is in` takes one argument")
			}
			return fnIn(a[0], a[1])
		},
		"is_contains": func(a ...any) (any, error) {
			if len(a) != 2 {
				return nil, fmt.Errorf("`is contains` takes one argument")
			}
			return fnIn(a[1], a[0])
		},
		"is_truthy": func(a ...any) (any, error) { return truthy(one(a)), nil },
		"is_falsy":  func(a ...any) (any, error) { return !truthy(one(a)), nil },
		"is_even": func(a ...any) (any, error) {
			n, err := toInt(one(a))
			return n%2 == 0, err
		},
		"is_odd": func(a ...any) (any, error) {
			n, err := toInt(one(a))
			return n%2 != 0, err
		},
		"is_divisibleby": func(a ...any) (any, error) {
			if len(a) != 2 {
				return nil, fmt.Errorf("divisibleby takes one argument")
			}
			n, err := toInt(a[0])
			if err != nil {
				return nil, err
			}
			d, err := toInt(a[1])
			if err != nil || d == 0 {
				return nil, fmt.Errorf("divisibleby: bad divisor %v", a[1])
			}
			return n%d == 0, nil
		},
		"is_lower":  func(a ...any) (any, error) { s := toText(one(a)); return s == strings.ToLower(s), nil },
		"is_upper":  func(a ...any) (any, error) { s := toText(one(a)); return s == strings.ToUpper(s), nil },
		"is_subset": func(a ...any) (any, error) { return subset(a, false) },
		"is_superset": func(a ...any) (any, error) {
			return subset(a, true)
		},
		"is_abs": func(a ...any) (any, error) { return path.IsAbs(toText(one(a))), nil },
		// exists/file/directory look at the machine running kplay, as in Ansible.
		"is_exists": func(a ...any) (any, error) { _, err := os.Stat(toText(one(a))); return err == nil, nil },
		"is_file": func(a ...any) (any, error) {
			st, err := os.Stat(toText(one(a)))
			return err == nil && st.Mode().IsRegular(), nil
		},
		"is_directory": func(a ...any) (any, error) {
			st, err := os.Stat(toText(one(a)))
			return err == nil && st.IsDir(), nil
		},

		// filters
		"default": fnDefault,
		"mandatory": func(a ...any) (any, error) {
			if _, ok := a[0].(undefined); ok {
				if len(a) > 1 {
					return nil, fmt.Errorf("%s", toText(a[1]))
				}
				return nil, fmt.Errorf("mandatory variable not defined")
			}
			return a[0], nil
		},
		"int":    fnInt,
		"float":  fnFloat,
		"bool":   func(a ...any) (any, error) { return toBool(one(a)), nil },
		"string": func(a ...any) (any, error) { return toText(one(a)), nil },
		"length": fnLength,
		"lower":  strFunc(strings.ToLower),
		"upper":  strFunc(strings.ToUpper),
		"capitalize": strFunc(func(s string) string {
			if s == "" {
				return s
			}
			return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
		}),
		"title": strFunc(func(s string) string {
			words := strings.Fields(s)
			for i, w := range words {
				words[i] = strings.ToUpper(w[:1]) + strings.ToLower(w[1:])
			}
			return strings.Join(words, " ")
		}),
		"trim":         fnTrim,
		"join":         fnJoin,
		"split":        fnSplit,
		"replace":      fnReplace,
		"first":        fnFirst,
		"last":         fnLast,
		"unique":       fnUnique,
		"sort":         fnSort,
		"list":         fnList,
		"to_json":      fnToJSON(false),
		"to_nice_json": fnToJSON(true),
		"from_json":    fnFromJSON,
		"to_yaml":      fnToYAML,
		"to_nice_yaml": fnToYAML,
		"from_yaml":    fnFromYAML,
		"basename":     strFunc(path.Base),
		"dirname":      strFunc(path.Dir),
		"splitext": func(a ...any) (any, error) {
			s := toText(one(a))
			ext := path.Ext(s)
			return []any{strings.TrimSuffix(s, ext), ext}, nil
		},
		"path_join": func(a ...any) (any, error) {
			parts, ok := toList(one(a))
			if !ok {
				return nil, fmt.Errorf("path_join needs a list")
			}
			ss := make([]string, len(parts))
			for i, p := range parts {
				ss[i] = toText(p)
			}
			return path.Join(ss...), nil
		},
		"regex_search":  fnRegexSearch,
		"regex_replace": fnRegexReplace,
		"regex_findall": fnRegexFindall,
		"b64encode": func(a ...any) (any, error) {
			return base64.StdEncoding.EncodeToString([]byte(toText(one(a)))), nil
		},
		"b64decode": func(a ...any) (any, error) {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(toText(one(a))))
			if err != nil {
				return nil, fmt.Errorf("b64decode: %v", err)
			}
			return string(b), nil
		},
		"combine":              fnCombine,
		"dict2items":           fnDict2Items,
		"items2dict":           fnItems2Dict,
		"ternary":              fnTernary,
		"quote":                func(a ...any) (any, error) { return shellQuote(toText(one(a))), nil },
		"indent":               fnIndent,
		"format":               fnFormat,
		"range":                fnRange,
		"union":                setOp("union"),
		"intersect":            setOp("intersect"),
		"difference":           setOp("difference"),
		"symmetric_difference": setOp("symmetric_difference"),
		"selectattr":           fnSelectAttr(true),
		"rejectattr":           fnSelectAttr(false),
		"select":               fnSelect(true),
		"reject":               fnSelect(false),
		"jmap":                 fnJMap,
		"type_debug":           fnTypeDebug,
		"hash":                 fnHash,
		"checksum":             func(a ...any) (any, error) { return fnHash(one(a), "sha1") },
		"dict":                 fnDict,
		"zip":                  fnZip,
	}

	pyMethods = map[string]exprFunc{
		"startswith": func(a ...any) (any, error) { return strings.HasPrefix(toText(a[0]), toText(arg(a, 1))), nil },
		"endswith":   func(a ...any) (any, error) { return strings.HasSuffix(toText(a[0]), toText(arg(a, 1))), nil },
		"split":      fnSplit,
		"strip":      fnTrim,
		"lstrip": func(a ...any) (any, error) {
			if len(a) > 1 {
				return strings.TrimLeft(toText(a[0]), toText(a[1])), nil
			}
			return strings.TrimLeft(toText(a[0]), " \t\r\n"), nil
		},
		"rstrip": func(a ...any) (any, error) {
			if len(a) > 1 {
				return strings.TrimRight(toText(a[0]), toText(a[1])), nil
			}
			return strings.TrimRight(toText(a[0]), " \t\r\n"), nil
		},
		"lower":      strFunc(strings.ToLower),
		"upper":      strFunc(strings.ToUpper),
		"replace":    fnReplace,
		"splitlines": func(a ...any) (any, error) { return splitLines(toText(a[0])), nil },
		"join": func(a ...any) (any, error) {
			// ','.join(xs): the receiver is the separator.
			return fnJoin(arg(a, 1), a[0])
		},
		"find": func(a ...any) (any, error) { return strings.Index(toText(a[0]), toText(arg(a, 1))), nil },
		"items": func(a ...any) (any, error) {
			m, ok := a[0].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("items() of %s", typeName(a[0]))
			}
			out := []any{}
			for _, k := range sortedKeys(m) {
				out = append(out, []any{k, m[k]})
			}
			return out, nil
		},
		"keys": func(a ...any) (any, error) {
			m, ok := a[0].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("keys() of %s", typeName(a[0]))
			}
			out := []any{}
			for _, k := range sortedKeys(m) {
				out = append(out, k)
			}
			return out, nil
		},
		"values": func(a ...any) (any, error) {
			m, ok := a[0].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("values() of %s", typeName(a[0]))
			}
			out := []any{}
			for _, k := range sortedKeys(m) {
				out = append(out, m[k])
			}
			return out, nil
		},
		"get": func(a ...any) (any, error) {
			m, ok := a[0].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("get() of %s", typeName(a[0]))
			}
			if v, ok := m[toText(arg(a, 1))]; ok {
				return v, nil
			}
			return arg(a, 2), nil
		},
	}
	pyMethods["title"] = exprFuncs["title"]
	pyMethods["capitalize"] = exprFuncs["capitalize"]

	base := conf.CreateNew()
	for name, fn := range exprFuncs {
		expr.Function(name, fn)(base)
	}
	exprFunctions = base.Functions
}

// exprFunctions is kplay's function table for expr, built once and only
// read afterwards.
var exprFunctions conf.FunctionsTable

// newExprConfig returns a configuration for one compilation: expr's config
// keeps a cache that its checker writes, so compilations running at once
// (one per host) must not share one.
func newExprConfig() *conf.Config {
	c := conf.CreateNew()
	c.Functions = exprFunctions // read-only while compiling
	return c
}

func one(a []any) any {
	if len(a) == 0 {
		return nil
	}
	return a[0]
}

func arg(a []any, i int) any {
	if i < len(a) {
		return a[i]
	}
	return nil
}

// splitKw separates keyword arguments from positional ones.
func splitKw(a []any) ([]any, map[string]any) {
	var pos []any
	kw := map[string]any{}
	for _, x := range a {
		if k, ok := x.(kwArg); ok {
			kw[k.name] = k.value
			continue
		}
		pos = append(pos, x)
	}
	return pos, kw
}

// param returns positional argument i, else keyword name, else def.
func param(pos []any, kw map[string]any, i int, name string, def any) any {
	if v, ok := kw[name]; ok {
		return v
	}
	if i < len(pos) {
		return pos[i]
	}
	return def
}

func fnGet(soft bool) exprFunc {
	return func(a ...any) (any, error) {
		env, _ := a[0].(map[string]any)
		name := a[1].(string)
		if v, ok := env[name]; ok {
			return v, nil
		}
		if soft {
			return undefined{name}, nil
		}
		return nil, &undefErr{name: name, off: a[2].(int)}
	}
}

func fnAttr(soft bool) exprFunc {
	return func(a ...any) (any, error) {
		obj, prop, off, desc := a[0], a[1], a[2].(int), a[3].(string)
		if u, ok := obj.(undefined); ok {
			return u, nil // only reachable when soft
		}
		missing := func() (any, error) {
			if soft {
				return undefined{desc}, nil
			}
			return nil, &undefErr{name: desc, off: off, attr: true}
		}
		switch o := obj.(type) {
		case map[string]any:
			if v, ok := o[toText(prop)]; ok {
				return v, nil
			}
			return missing()
		case nil:
			if soft {
				return undefined{desc}, nil
			}
			return nil, fmt.Errorf("cannot read %s: %s is null", desc, desc[:max(0, strings.LastIndexAny(desc, ".["))])
		case []any:
			i, err := toInt(prop)
			if err != nil {
				return nil, fmt.Errorf("%s: a list index must be a number, not %s", desc, typeName(prop))
			}
			if i < 0 {
				i += len(o)
			}
			if i < 0 || i >= len(o) {
				if soft {
					return undefined{desc}, nil
				}
				return nil, fmt.Errorf("%s: index %v out of range (length %d)", desc, prop, len(o))
			}
			return o[i], nil
		case string:
			i, err := toInt(prop)
			if err != nil {
				return missing()
			}
			r := []rune(o)
			if i < 0 {
				i += len(r)
			}
			if i < 0 || i >= len(r) {
				return nil, fmt.Errorf("%s: index %v out of range (length %d)", desc, prop, len(r))
			}
			return string(r[i]), nil
		}
		// Other Go values (maps of other types, structs) as expr reads them.
		rv := reflect.ValueOf(obj)
		if rv.Kind() == reflect.Map {
			k := reflect.ValueOf(prop)
			if k.IsValid() && k.Type().AssignableTo(rv.Type().Key()) {
				v := rv.MapIndex(k)
				if !v.IsValid() {
					return missing()
				}
				return v.Interface(), nil
			}
		}
		var out any
		var ferr error
		func() {
			defer func() {
				if r := recover(); r != nil {
					ferr = fmt.Errorf("cannot read %s: %v", desc, r)
				}
			}()
			out = runtime.Fetch(obj, prop)
		}()
		return out, ferr
	}
}

func fnMethod(a ...any) (any, error) {
	name := a[1].(string)
	args := append([]any{a[0]}, a[2:]...)
	return pyMethods[name](args...)
}

func isDefined(a []any) bool {
	if len(a) == 0 {
		return false
	}
	_, undef := a[0].(undefined)
	return !undef
}

func fnDefault(a ...any) (any, error) {
	pos, kw := splitKw(a)
	if len(pos) == 0 {
		return nil, fmt.Errorf("default needs a value")
	}
	def := param(pos, kw, 1, "default_value", "")
	onFalsy := toBool(param(pos, kw, 2, "boolean", false))
	v := pos[0]
	if _, ok := v.(undefined); ok || (onFalsy && !truthy(v)) {
		return def, nil
	}
	return v, nil
}

func resultTest(f func(map[string]any) bool) exprFunc {
	return func(a ...any) (any, error) {
		r, ok := one(a).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("the test needs a registered result, not %s", typeName(one(a)))
		}
		return f(r), nil
	}
}

func fnIn(a ...any) (any, error) {
	x, coll := a[0], a[1]
	switch c := coll.(type) {
	case string:
		return strings.Contains(c, toText(x)), nil
	case map[string]any:
		_, ok := c[toText(x)]
		return ok, nil
	case nil:
		return nil, fmt.Errorf("`in` needs a list, map or string on its right, not null")
	}
	if l, ok := toList(coll); ok {
		for _, y := range l {
			if runtime.Equal(x, y) {
				return true, nil
			}
		}
		return false, nil
	}
	return nil, fmt.Errorf("`in` needs a list, map or string on its right, not %s", typeName(coll))
}

func fnCat(a ...any) (any, error) { return toText(a[0]) + toText(a[1]), nil }

func fnAdd(a ...any) (any, error) {
	x, y := a[0], a[1]
	switch xv := x.(type) {
	case string:
		if ys, ok := y.(string); ok {
			return xv + ys, nil
		}
		return nil, fmt.Errorf("cannot add string and %s: use ~ to join text (%q ~ x)", typeName(y), xv)
	case []any:
		if yl, ok := toList(y); ok {
			return append(append([]any{}, xv...), yl...), nil
		}
	}
	xi, xInt := intValue(x)
	yi, yInt := intValue(y)
	if xInt && yInt {
		return xi + yi, nil
	}
	xf, ok1 := number(x)
	yf, ok2 := number(y)
	if ok1 && ok2 {
		return xf + yf, nil
	}
	if xl, ok := toList(x); ok {
		if yl, ok := toList(y); ok {
			return append(append([]any{}, xl...), yl...), nil
		}
	}
	return nil, fmt.Errorf("cannot add %s and %s", typeName(x), typeName(y))
}

// --- conversions -----------------------------------------------------------

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case int, int64, uint64, int32:
		return "an int"
	case float64, float32:
		return "a float"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case undefined:
		return "undefined"
	}
	return fmt.Sprintf("%T", v)
}

func intValue(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case int32:
		return int(x), true
	case uint64:
		return int(x), true
	case uint:
		return int(x), true
	}
	return 0, false
}

func number(v any) (float64, bool) {
	if i, ok := intValue(v); ok {
		return float64(i), true
	}
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	return 0, false
}

func toInt(v any) (int, error) {
	if i, ok := intValue(v); ok {
		return i, nil
	}
	switch x := v.(type) {
	case float64:
		return int(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		s := strings.TrimSpace(x)
		if i, err := strconv.Atoi(s); err == nil {
			return i, nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return int(f), nil
		}
		return 0, fmt.Errorf("%q is not a number", x)
	}
	return 0, fmt.Errorf("%s is not a number", typeName(v))
}

// fnInt is Jinja's int: what cannot be read as a number is the default (0).
func fnInt(a ...any) (any, error) {
	pos, kw := splitKw(a)
	def := param(pos, kw, 1, "default", 0)
	v := arg(pos, 0)
	if s, ok := v.(string); ok {
		base, _ := toInt(param(pos, kw, 2, "base", 10))
		s = strings.TrimSpace(s)
		if base != 10 {
			s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(s), "0x"), "0o"), "0b")
		}
		if i, err := strconv.ParseInt(s, base, 64); err == nil {
			return int(i), nil
		}
	}
	i, err := toInt(v)
	if err != nil {
		return def, nil
	}
	return i, nil
}

func fnFloat(a ...any) (any, error) {
	pos, kw := splitKw(a)
	def := param(pos, kw, 1, "default", 0.0)
	v := arg(pos, 0)
	if f, ok := number(v); ok {
		return f, nil
	}
	if s, ok := v.(string); ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return f, nil
		}
	}
	return def, nil
}

// toBool is Ansible's bool filter: yes/on/true/1 are true.
func toBool(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "yes", "on", "true", "1", "y", "t":
			return true
		}
		return false
	}
	if f, ok := number(v); ok {
		return f == 1
	}
	return false
}

// truthy is Python's truth value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil, undefined:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	}
	if f, ok := number(v); ok {
		return f != 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() > 0
	}
	return true
}

// toText renders a value into template output: strings as they are, numbers
// plainly, true/false, null as empty, lists and maps as JSON.
func toText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case int:
		return strconv.Itoa(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []byte:
		return string(x)
	case undefined:
		return ""
	case map[string]any, []any:
		s, err := marshalJSON(x, false)
		if err != nil {
			return fmt.Sprint(x)
		}
		return s
	}
	if i, ok := intValue(v); ok {
		return strconv.Itoa(i)
	}
	if s, ok := v.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprint(v)
}

func toList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, true
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func strFunc(f func(string) string) exprFunc {
	return func(a ...any) (any, error) { return f(toText(one(a))), nil }
}

func splitLines(s string) []any {
	out := []any{}
	if s == "" {
		return out
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		out = append(out, strings.TrimSuffix(l, "\r"))
	}
	return out
}

// --- filters ----------------------------------------------------------------

func fnLength(a ...any) (any, error) {
	v := one(a)
	switch x := v.(type) {
	case string:
		return len([]rune(x)), nil
	case map[string]any:
		return len(x), nil
	case nil:
		return 0, nil
	}
	if l, ok := toList(v); ok {
		return len(l), nil
	}
	return nil, fmt.Errorf("length of %s", typeName(v))
}

func fnTrim(a ...any) (any, error) {
	if len(a) > 1 && a[1] != nil {
		return strings.Trim(toText(a[0]), toText(a[1])), nil
	}
	return strings.TrimSpace(toText(one(a))), nil
}

func fnJoin(a ...any) (any, error) {
	pos, kw := splitKw(a)
	l, ok := toList(arg(pos, 0))
	if !ok {
		return nil, fmt.Errorf("join needs a list, not %s", typeName(arg(pos, 0)))
	}
	sep := toText(param(pos, kw, 1, "d", ""))
	ss := make([]string, len(l))
	for i, x := range l {
		ss[i] = toText(x)
	}
	return strings.Join(ss, sep), nil
}

func fnSplit(a ...any) (any, error) {
	s := toText(arg(a, 0))
	var parts []string
	if len(a) < 2 || a[1] == nil {
		parts = strings.Fields(s)
	} else if len(a) > 2 {
		n, err := toInt(a[2])
		if err != nil {
			return nil, err
		}
		parts = strings.SplitN(s, toText(a[1]), n+1)
	} else {
		parts = strings.Split(s, toText(a[1]))
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func fnReplace(a ...any) (any, error) {
	if len(a) < 3 {
		return nil, fmt.Errorf("replace needs old and new text")
	}
	n := -1
	if len(a) > 3 {
		var err error
		if n, err = toInt(a[3]); err != nil {
			return nil, err
		}
	}
	return strings.Replace(toText(a[0]), toText(a[1]), toText(a[2]), n), nil
}

func fnFirst(a ...any) (any, error) {
	v := one(a)
	if s, ok := v.(string); ok {
		if s == "" {
			return nil, fmt.Errorf("first of an empty string")
		}
		return string([]rune(s)[0]), nil
	}
	l, ok := toList(v)
	if !ok {
		return nil, fmt.Errorf("first of %s", typeName(v))
	}
	if len(l) == 0 {
		return nil, fmt.Errorf("first of an empty list")
	}
	return l[0], nil
}

func fnLast(a ...any) (any, error) {
	v := one(a)
	if s, ok := v.(string); ok {
		r := []rune(s)
		if len(r) == 0 {
			return nil, fmt.Errorf("last of an empty string")
		}
		return string(r[len(r)-1]), nil
	}
	l, ok := toList(v)
	if !ok {
		return nil, fmt.Errorf("last of %s", typeName(v))
	}
	if len(l) == 0 {
		return nil, fmt.Errorf("last of an empty list")
	}
	return l[len(l)-1], nil
}

func fnList(a ...any) (any, error) {
	v := one(a)
	switch x := v.(type) {
	case string:
		out := []any{}
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	case map[string]any:
		out := []any{}
		for _, k := range sortedKeys(x) {
			out = append(out, k)
		}
		return out, nil
	}
	if l, ok := toList(v); ok {
		return l, nil
	}
	return nil, fmt.Errorf("list of %s", typeName(v))
}

func fnUnique(a ...any) (any, error) {
	l, ok := toList(one(a))
	if !ok {
		return nil, fmt.Errorf("unique needs a list, not %s", typeName(one(a)))
	}
	out := []any{}
	for _, x := range l {
		dup := false
		for _, y := range out {
			if runtime.Equal(x, y) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out, nil
}

// compare orders numbers numerically and everything else as text.
func compare(x, y any) int {
	xf, ok1 := number(x)
	yf, ok2 := number(y)
	if ok1 && ok2 {
		switch {
		case xf < yf:
			return -1
		case xf > yf:
			return 1
		}
		return 0
	}
	return strings.Compare(toText(x), toText(y))
}

func fnSort(a ...any) (any, error) {
	pos, kw := splitKw(a)
	l, ok := toList(arg(pos, 0))
	if !ok {
		return nil, fmt.Errorf("sort needs a list, not %s", typeName(arg(pos, 0)))
	}
	reverse := toBool(param(pos, kw, 1, "reverse", false))
	attr, _ := param(pos, kw, 3, "attribute", nil).(string)
	out := append([]any{}, l...)
	key := func(v any) any {
		if attr == "" {
			return v
		}
		return lookupAttr(v, attr)
	}
	sort.SliceStable(out, func(i, j int) bool {
		c := compare(key(out[i]), key(out[j]))
		if reverse {
			return c > 0
		}
		return c < 0
	})
	return out, nil
}

// lookupAttr reads a dotted attribute path (a.b) of a map, nil if missing.
func lookupAttr(v any, attr string) any {
	for _, part := range strings.Split(attr, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	return v
}

// marshalJSON writes JSON as Python's json.dumps does, which is what
// Ansible's to_json gives: ", " and ": " between items, keys sorted (Go maps
// have no order to keep). nice is to_nice_json: four-space indentation.
func marshalJSON(v any, nice bool) (string, error) {
	var buf bytes.Buffer
	if nice {
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "    ")
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSuffix(buf.String(), "\n"), nil
	}
	if err := writeJSON(&buf, v); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func writeJSON(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case map[string]any:
		buf.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				buf.WriteString(", ")
			}
			if err := writeJSON(buf, k); err != nil {
				return err
			}
			buf.WriteString(": ")
			if err := writeJSON(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteString(", ")
			}
			if err := writeJSON(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case undefined:
		return fmt.Errorf("cannot write an undefined value as JSON")
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return nil
}

func fnToJSON(nice bool) exprFunc {
	return func(a ...any) (any, error) {
		s, err := marshalJSON(one(a), nice)
		if err != nil {
			return nil, fmt.Errorf("to_json: %v", err)
		}
		return s, nil
	}
}

// fromJSONNumbers turns json.Number into int where it is whole, as Python's
// json does, so `(x | from_json).port == 6443` compares as expected.
func fromJSONNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = fromJSONNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = fromJSONNumbers(e)
		}
	}
	return v
}

func fnFromJSON(a ...any) (any, error) {
	dec := json.NewDecoder(strings.NewReader(toText(one(a))))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("from_json: %v", err)
	}
	return fromJSONNumbers(v), nil
}

func fnToYAML(a ...any) (any, error) {
	b, err := yaml.Marshal(one(a))
	if err != nil {
		return nil, fmt.Errorf("to_yaml: %v", err)
	}
	return string(b), nil
}

func fnFromYAML(a ...any) (any, error) {
	var v any
	if err := yaml.Unmarshal([]byte(toText(one(a))), &v); err != nil {
		return nil, fmt.Errorf("from_yaml: %v", err)
	}
	return normalizeYAML(v), nil
}

// normalizeYAML turns map[any]any (non-string keys) into map[string]any.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeYAML(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[toText(k)] = normalizeYAML(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalizeYAML(e)
		}
	}
	return v
}

// regexps caches compiled patterns: filters get the pattern as a value at
// run time, often the same one for every host.
var regexps sync.Map

func compileRegex(pat string, ignoreCase, multiline bool) (*regexp.Regexp, error) {
	flags := ""
	if ignoreCase {
		flags += "i"
	}
	if multiline {
		flags += "m"
	}
	if flags != "" {
		pat = "(?" + flags + ")" + pat
	}
	if r, ok := regexps.Load(pat); ok {
		return r.(*regexp.Regexp), nil
	}
	r, err := regexp.Compile(pat)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression: %v", err)
	}
	regexps.Store(pat, r)
	return r, nil
}

func fnRegexTest(anchored bool) exprFunc {
	return func(a ...any) (any, error) {
		pos, kw := splitKw(a)
		pat := toText(arg(pos, 1))
		if anchored {
			pat = "^(?:" + pat + ")"
		}
		r, err := compileRegex(pat, toBool(kw["ignorecase"]), toBool(kw["multiline"]))
		if err != nil {
			return nil, err
		}
		return r.MatchString(toText(arg(pos, 0))), nil
	}
}

func fnRegexSearch(a ...any) (any, error) {
	pos, kw := splitKw(a)
	r, err := compileRegex(toText(arg(pos, 1)), toBool(kw["ignorecase"]), toBool(kw["multiline"]))
	if err != nil {
		return nil, err
	}
	s := toText(arg(pos, 0))
	m := r.FindStringSubmatch(s)
	if m == nil {
		return nil, nil
	}
	// regex_search(s, pat, '\\1', '\\g<name>') returns the listed groups.
	if len(pos) > 2 {
		out := []any{}
		for _, g := range pos[2:] {
			ref := strings.TrimPrefix(toText(g), "\\")
			if strings.HasPrefix(ref, "g<") {
				name := strings.TrimSuffix(strings.TrimPrefix(ref, "g<"), ">")
				i := r.SubexpIndex(name)
				if i < 0 {
					return nil, fmt.Errorf("regex_search: no group named %q", name)
				}
				out = append(out, m[i])
				continue
			}
			i, err := strconv.Atoi(ref)
			if err != nil || i >= len(m) {
				return nil, fmt.Errorf("regex_search: bad group %q", toText(g))
			}
			out = append(out, m[i])
		}
		return out, nil
	}
	return m[0], nil
}

// pyReplacement turns a Python re.sub replacement (\1, \g<name>, \\) into
// Go's Regexp.Expand syntax (${1}, ${name}, with $ doubled).
func pyReplacement(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(rs):
			n := rs[i+1]
			switch {
			case n >= '0' && n <= '9':
				j := i + 1
				for j < len(rs) && j < i+3 && rs[j] >= '0' && rs[j] <= '9' {
					j++
				}
				b.WriteString("${" + string(rs[i+1:j]) + "}")
				i = j - 1
			case n == 'g' && i+2 < len(rs) && rs[i+2] == '<':
				end := strings.IndexRune(string(rs[i+3:]), '>')
				if end < 0 {
					b.WriteString("\\g")
					i++
					continue
				}
				name := []rune(string(rs[i+3:]))[:end]
				b.WriteString("${" + string(name) + "}")
				i += 3 + len(name)
			case n == '\\':
				b.WriteByte('\\')
				i++
			case n == 'n':
				b.WriteByte('\n')
				i++
			case n == 't':
				b.WriteByte('\t')
				i++
			default:
				b.WriteRune(c)
			}
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func fnRegexReplace(a ...any) (any, error) {
	pos, kw := splitKw(a)
	r, err := compileRegex(toText(arg(pos, 1)), toBool(param(pos, kw, 3, "ignorecase", false)), toBool(kw["multiline"]))
	if err != nil {
		return nil, err
	}
	return r.ReplaceAllString(toText(arg(pos, 0)), pyReplacement(toText(arg(pos, 2)))), nil
}

func fnRegexFindall(a ...any) (any, error) {
	pos, kw := splitKw(a)
	r, err := compileRegex(toText(arg(pos, 1)), toBool(kw["ignorecase"]), toBool(kw["multiline"]))
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, m := range r.FindAllStringSubmatch(toText(arg(pos, 0)), -1) {
		switch len(m) {
		case 1:
			out = append(out, m[0])
		case 2:
			out = append(out, m[1])
		default:
			g := []any{}
			for _, s := range m[1:] {
				g = append(g, s)
			}
			out = append(out, g)
		}
	}
	return out, nil
}

func mergeMaps(a, b map[string]any, recursive bool) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if recursive {
			am, ok1 := out[k].(map[string]any)
			bm, ok2 := v.(map[string]any)
			if ok1 && ok2 {
				out[k] = mergeMaps(am, bm, true)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func fnCombine(a ...any) (any, error) {
	pos, kw := splitKw(a)
	recursive := toBool(kw["recursive"])
	out := map[string]any{}
	for i, x := range pos {
		if l, ok := x.([]any); ok && i > 0 {
			for _, y := range l {
				m, ok := y.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("combine needs maps, not %s", typeName(y))
				}
				out = mergeMaps(out, m, recursive)
			}
			continue
		}
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("combine needs maps, not %s", typeName(x))
		}
		out = mergeMaps(out, m, recursive)
	}
	return out, nil
}

func fnDict2Items(a ...any) (any, error) {
	pos, kw := splitKw(a)
	m, ok := arg(pos, 0).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("dict2items needs a map, not %s", typeName(arg(pos, 0)))
	}
	kn := toText(param(pos, kw, 1, "key_name", "key"))
	vn := toText(param(pos, kw, 2, "value_name", "value"))
	out := []any{}
	for _, k := range sortedKeys(m) {
		out = append(out, map[string]any{kn: k, vn: m[k]})
	}
	return out, nil
}

func fnItems2Dict(a ...any) (any, error) {
	pos, kw := splitKw(a)
	l, ok := toList(arg(pos, 0))
	if !ok {
		return nil, fmt.Errorf("items2dict needs a list, not %s", typeName(arg(pos, 0)))
	}
	kn := toText(param(pos, kw, 1, "key_name", "key"))
	vn := toText(param(pos, kw, 2, "value_name", "value"))
	out := map[string]any{}
	for _, x := range l {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("items2dict needs a list of maps, not of %s", typeName(x))
		}
		k, ok := m[kn]
		if !ok {
			return nil, fmt.Errorf("items2dict: an item has no %q", kn)
		}
		out[toText(k)] = m[vn]
	}
	return out, nil
}

func fnTernary(a ...any) (any, error) {
	if len(a) < 3 {
		return nil, fmt.Errorf("ternary needs two values: cond | ternary(yes, no)")
	}
	if a[0] == nil && len(a) > 3 {
		return a[3], nil
	}
	if truthy(a[0]) {
		return a[1], nil
	}
	return a[2], nil
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r == '/' || r == ':' || r == '=' || r == ',' || r == '+' || r == '@' || r == '%' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

func fnIndent(a ...any) (any, error) {
	pos, kw := splitKw(a)
	s := toText(arg(pos, 0))
	width := param(pos, kw, 1, "width", 4)
	pad := ""
	if w, ok := width.(string); ok {
		pad = w
	} else {
		n, err := toInt(width)
		if err != nil {
			return nil, err
		}
		pad = strings.Repeat(" ", n)
	}
	first := toBool(param(pos, kw, 2, "first", false))
	blank := toBool(param(pos, kw, 3, "blank", false))
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if (i == 0 && !first) || (l == "" && !blank) {
			continue
		}
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n"), nil
}

var pyFormatVerb = regexp.MustCompile(`%[-+ 0#]*\d*(?:\.\d+)?[sdifrx%]`)

// fnFormat is Jinja's format filter: "%s-%d" | format(a, b).
func fnFormat(a ...any) (any, error) {
	f := toText(arg(a, 0))
	args := a[1:]
	i := 0
	var err error
	out := pyFormatVerb.ReplaceAllStringFunc(f, func(verb string) string {
		if verb == "%%" {
			return "%"
		}
		if i >= len(args) {
			err = fmt.Errorf("format: not enough arguments for %q", f)
			return verb
		}
		v := args[i]
		i++
		switch verb[len(verb)-1] {
		case 's', 'r':
			return fmt.Sprintf(verb[:len(verb)-1]+"s", toText(v))
		case 'd', 'i':
			n, e := toInt(v)
			if e != nil {
				err = e
			}
			return fmt.Sprintf(verb[:len(verb)-1]+"d", n)
		case 'x':
			n, e := toInt(v)
			if e != nil {
				err = e
			}
			return fmt.Sprintf(verb, n)
		case 'f':
			x, _ := number(v)
			return fmt.Sprintf(verb, x)
		}
		return verb
	})
	return out, err
}

func fnRange(a ...any) (any, error) {
	ints := make([]int, len(a))
	for i, x := range a {
		n, err := toInt(x)
		if err != nil {
			return nil, fmt.Errorf("range: %v", err)
		}
		ints[i] = n
	}
	start, end, step := 0, 0, 1
	switch len(ints) {
	case 1:
		end = ints[0]
	case 2:
		start, end = ints[0], ints[1]
	case 3:
		start, end, step = ints[0], ints[1], ints[2]
	default:
		return nil, fmt.Errorf("range takes 1 to 3 numbers")
	}
	if step == 0 {
		return nil, fmt.Errorf("range: step must not be 0")
	}
	if (end-start)/step > 100000 {
		return nil, fmt.Errorf("range: more than 100000 items")
	}
	out := []any{}
	for i := start; (step > 0 && i < end) || (step < 0 && i > end); i += step {
		out = append(out, i)
	}
	return out, nil
}

func setOp(op string) exprFunc {
	return func(a ...any) (any, error) {
		x, ok1 := toList(arg(a, 0))
		y, ok2 := toList(arg(a, 1))
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s needs two lists", op)
		}
		has := func(l []any, v any) bool {
			for _, e := range l {
				if runtime.Equal(e, v) {
					return true
				}
			}
			return false
		}
		var out []any
		add := func(v any) {
			if !has(out, v) {
				out = append(out, v)
			}
		}
		switch op {
		case "union":
			for _, v := range append(append([]any{}, x...), y...) {
				add(v)
			}
		case "intersect":
			for _, v := range x {
				if has(y, v) {
					add(v)
				}
			}
		case "difference":
			for _, v := range x {
				if !has(y, v) {
					add(v)
				}
			}
		case "symmetric_difference":
			for _, v := range x {
				if !has(y, v) {
					add(v)
				}
			}
			for _, v := range y {
				if !has(x, v) {
					add(v)
				}
			}
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
}

func subset(a []any, super bool) (any, error) {
	x, ok1 := toList(arg(a, 0))
	y, ok2 := toList(arg(a, 1))
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("subset/superset need two lists")
	}
	if super {
		x, y = y, x
	}
	for _, v := range x {
		found := false
		for _, w := range y {
			if runtime.Equal(v, w) {
				found = true
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// applyTest runs a Jinja test by name, for select/selectattr.
func applyTest(name string, v any, args []any) (bool, error) {
	if name == "" {
		return truthy(v), nil
	}
	switch name {
	case "==", "equalto", "eq":
		return runtime.Equal(v, arg(args, 0)), nil
	case "!=", "ne":
		return !runtime.Equal(v, arg(args, 0)), nil
	case ">", "gt", ">=", "ge", "<", "lt", "<=", "le":
		c := compare(v, arg(args, 0))
		switch name {
		case ">", "gt":
			return c > 0, nil
		case ">=", "ge":
			return c >= 0, nil
		case "<", "lt":
			return c < 0, nil
		}
		return c <= 0, nil
	}
	fnName, ok := jinjaTests[name]
	if !ok {
		return false, fmt.Errorf("unknown test %q", name)
	}
	out, err := exprFuncs[fnName](append([]any{v}, args...)...)
	if err != nil {
		return false, err
	}
	return truthy(out), nil
}

func fnSelect(keep bool) exprFunc {
	return func(a ...any) (any, error) {
		l, ok := toList(arg(a, 0))
		if !ok {
			return nil, fmt.Errorf("select needs a list, not %s", typeName(arg(a, 0)))
		}
		test := ""
		if len(a) > 1 {
			test = toText(a[1])
		}
		var rest []any
		if len(a) > 2 {
			rest = a[2:]
		}
		out := []any{}
		for _, v := range l {
			ok, err := applyTest(test, v, rest)
			if err != nil {
				return nil, err
			}
			if ok == keep {
				out = append(out, v)
			}
		}
		return out, nil
	}
}

func fnSelectAttr(keep bool) exprFunc {
	return func(a ...any) (any, error) {
		l, ok := toList(arg(a, 0))
		if !ok {
			return nil, fmt.Errorf("selectattr needs a list, not %s", typeName(arg(a, 0)))
		}
		attr := toText(arg(a, 1))
		test := ""
		if len(a) > 2 {
			test = toText(a[2])
		}
		var rest []any
		if len(a) > 3 {
			rest = a[3:]
		}
		out := []any{}
		for _, v := range l {
			av := lookupAttr(v, attr)
			if av == nil && test == "defined" {
				if keep == false {
					out = append(out, v)
				}
				continue
			}
			ok, err := applyTest(test, av, rest)
			if err != nil {
				return nil, err
			}
			if ok == keep {
				out = append(out, v)
			}
		}
		return out, nil
	}
}

// fnJMap is Jinja's map: map(attribute='name'), map('upper'),
// map('extract', hostvars, 'ansible_host').
func fnJMap(a ...any) (any, error) {
	pos, kw := splitKw(a)
	l, ok := toList(arg(pos, 0))
	if !ok {
		return nil, fmt.Errorf("map needs a list, not %s", typeName(arg(pos, 0)))
	}
	out := make([]any, 0, len(l))
	if attr, ok := kw["attribute"]; ok {
		def, hasDef := kw["default"]
		for _, v := range l {
			av := lookupAttr(v, toText(attr))
			if av == nil && hasDef {
				av = def
			}
			out = append(out, av)
		}
		return out, nil
	}
	name := toText(arg(pos, 1))
	var rest []any
	if len(pos) > 2 {
		rest = pos[2:]
	}
	if name == "extract" {
		for _, v := range l {
			cont := arg(rest, 0)
			x, err := fnAttr(false)(cont, v, 0, "extract")
			if err != nil {
				return nil, fmt.Errorf("map('extract'): %v", err)
			}
			if len(rest) > 1 {
				x, err = fnAttr(false)(x, rest[1], 0, "extract")
				if err != nil {
					return nil, fmt.Errorf("map('extract'): %v", err)
				}
			}
			out = append(out, x)
		}
		return out, nil
	}
	fn, ok := exprFuncs[name]
	if !ok || strings.HasPrefix(name, "_") {
		return nil, fmt.Errorf("map: unknown filter %q", name)
	}
	for _, v := range l {
		x, err := fn(append([]any{v}, rest...)...)
		if err != nil {
			return nil, fmt.Errorf("map(%q): %v", name, err)
		}
		out = append(out, x)
	}
	return out, nil
}

func fnTypeDebug(a ...any) (any, error) {
	switch one(a).(type) {
	case nil:
		return "NoneType", nil
	case string:
		return "str", nil
	case bool:
		return "bool", nil
	case float64:
		return "float", nil
	case map[string]any:
		return "dict", nil
	case []any:
		return "list", nil
	}
	if _, ok := intValue(one(a)); ok {
		return "int", nil
	}
	return fmt.Sprintf("%T", one(a)), nil
}

func fnHash(a ...any) (any, error) {
	data := []byte(toText(arg(a, 0)))
	algo := "sha1"
	if len(a) > 1 {
		algo = toText(a[1])
	}
	var sum []byte
	switch algo {
	case "sha1":
		s := sha1.Sum(data)
		sum = s[:]
	case "md5":
		s := md5.Sum(data)
		sum = s[:]
	case "sha256":
		s := sha256.Sum256(data)
		sum = s[:]
	case "sha512":
		s := sha512.Sum512(data)
		sum = s[:]
	default:
		return nil, fmt.Errorf("hash: unknown algorithm %q (sha1, md5, sha256, sha512)", algo)
	}
	return hex.EncodeToString(sum), nil
}

func fnDict(a ...any) (any, error) {
	pos, kw := splitKw(a)
	out := map[string]any{}
	if len(pos) > 0 {
		l, ok := toList(pos[0])
		if !ok {
			return nil, fmt.Errorf("dict needs a list of pairs")
		}
		for _, p := range l {
			pl, ok := toList(p)
			if !ok || len(pl) != 2 {
				return nil, fmt.Errorf("dict needs a list of pairs")
			}
			out[toText(pl[0])] = pl[1]
		}
	}
	for k, v := range kw {
		out[k] = v
	}
	return out, nil
}

func fnZip(a ...any) (any, error) {
	var lists [][]any
	for _, x := range a {
		l, ok := toList(x)
		if !ok {
			return nil, fmt.Errorf("zip needs lists, not %s", typeName(x))
		}
		lists = append(lists, l)
	}
	out := []any{}
	for i := 0; ; i++ {
		row := []any{}
		for _, l := range lists {
			if i >= len(l) {
				return out, nil
			}
			row = append(row, l[i])
		}
		if len(lists) == 0 {
			return out, nil
		}
		out = append(out, row)
	}
}

// --- versions ----------------------------------------------------------------

// versionParts splits "1.20.3-rc1" into numbers and words, like Python's
// LooseVersion, which Ansible's version test uses by default.
func versionParts(v string) []any {
	var parts []any
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	i := 0
	for i < len(v) {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			j := i
			for j < len(v) && v[j] >= '0' && v[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(v[i:j])
			parts = append(parts, n)
			i = j
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			j := i
			for j < len(v) && ((v[j] >= 'a' && v[j] <= 'z') || (v[j] >= 'A' && v[j] <= 'Z')) {
				j++
			}
			parts = append(parts, v[i:j])
			i = j
		default:
			i++
		}
	}
	return parts
}

func compareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for i := 0; i < len(pa) || i < len(pb); i++ {
		if i >= len(pa) {
			return -1
		}
		if i >= len(pb) {
			return 1
		}
		x, y := pa[i], pb[i]
		xi, xNum := x.(int)
		yi, yNum := y.(int)
		switch {
		case xNum && yNum:
			if xi != yi {
				if xi < yi {
					return -1
				}
				return 1
			}
		case xNum: // a number sorts after a word: 1.0 > 1.0rc1 is decided below
			return 1
		case yNum:
			return -1
		default:
			if c := strings.Compare(x.(string), y.(string)); c != 0 {
				return c
			}
		}
	}
	return 0
}

func fnVersion(a ...any) (any, error) {
	pos, kw := splitKw(a)
	if len(pos) < 2 {
		return nil, fmt.Errorf("version needs a version to compare with: version(v, '1.20', '>=')")
	}
	op := toText(param(pos, kw, 2, "operator", "=="))
	c := compareVersions(toText(pos[0]), toText(pos[1]))
	switch op {
	case "<", "lt":
		return c < 0, nil
	case "<=", "le":
		return c <= 0, nil
	case ">", "gt":
		return c > 0, nil
	case ">=", "ge":
		return c >= 0, nil
	case "==", "=", "eq":
		return c == 0, nil
	case "!=", "<>", "ne":
		return c != 0, nil
	}
	return nil, fmt.Errorf("version: unknown operator %q (<, <=, >, >=, ==, !=)", op)
}

// fnFloorDiv is Python's a // b: rounded down, an int for two ints.
func fnFloorDiv(a ...any) (any, error) {
	x, y := a[0], a[1]
	xi, ok1 := intValue(x)
	yi, ok2 := intValue(y)
	if ok1 && ok2 {
		if yi == 0 {
			return nil, fmt.Errorf("division by zero")
		}
		q := xi / yi
		if (xi%yi != 0) && ((xi < 0) != (yi < 0)) {
			q--
		}
		return q, nil
	}
	xf, ok1 := number(x)
	yf, ok2 := number(y)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("cannot divide %s by %s", typeName(x), typeName(y))
	}
	if yf == 0 {
		return nil, fmt.Errorf("division by zero")
	}
	return math.Floor(xf / yf), nil
}
