package engine

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"kplay/diag"
	"kplay/dsl"
)

// VarPositioner is what an Inventory may also offer so the static check can
// say where a host variable was set (dsl/inventory's Inventory does).
type VarPositioner interface {
	VarPos(host, name string) (diag.Pos, bool)
}

// ConnVars are the connection and become variables kplay reads from a
// host's variables. Other ansible_* names close to one of these (or to a
// name Ansible users commonly set) get a did-you-mean warning.
var ConnVars = []string{
	"ansible_connection", "ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port",
	"ansible_user", "ansible_ssh_user", "ansible_ssh_private_key_file", "ansible_private_key_file",
	"ansible_become", "ansible_become_user",
}

// otherAnsibleVars are names Ansible defines that kplay does not read but an
// inventory may well set; they are never warned about.
var otherAnsibleVars = []string{
	"ansible_group_priority", "ansible_python_interpreter", "ansible_become_method",
	"ansible_become_password", "ansible_become_pass", "ansible_become_exe", "ansible_become_flags",
	"ansible_password", "ansible_ssh_pass", "ansible_ssh_common_args", "ansible_ssh_extra_args",
	"ansible_sftp_extra_args", "ansible_scp_extra_args", "ansible_ssh_pipelining",
	"ansible_ssh_executable", "ansible_shell_type", "ansible_shell_executable",
	"ansible_timeout", "ansible_ssh_timeout", "ansible_host_key_checking", "ansible_ssh_retries",
	"ansible_network_os", "ansible_facts", "ansible_managed",
}

// varSource is where the value a host will use for a variable comes from.
type varSource struct {
	pos  diag.Pos
	name string // when pos is unknown: "-e", "the inventory"
}

func (s varSource) at() diag.Pos {
	if s.pos.File != "" {
		return s.pos
	}
	return diag.Pos{File: s.name}
}

// hostVarsCheck is the static check of the connection variables of every
// host the run will touch (plays' hosts after --limit), with the rules the
// connection code applies: what hostSpec, becomeOpts, Dialers and (through
// o.ConnVarsCheck) the transports would refuse when connecting is reported
// before any host is touched. Values with {{ }} are rendered with the
// host's inventory, play and extra vars when that can be done statically,
// else left to connect time. warns are did-you-mean hints for misspelt
// ansible_* names.
func hostVarsCheck(pb *dsl.Playbook, o CheckOptions, wantErrs, wantWarns bool) (errs, warns diag.Diagnostics) {
	if o.Inventory == nil {
		return nil, nil
	}
	vp, _ := o.Inventory.(VarPositioner)
	seen := map[string]bool{}
	add := func(ds *diag.Diagnostics, d diag.Diagnostic) {
		if k := d.String(); !seen[k] {
			seen[k] = true
			*ds = append(*ds, d)
		}
	}
	knownList := slices.Concat(ConnVars, otherAnsibleVars, FactNames, MagicVars, o.ConnVarNames)
	known := map[string]bool{}
	for _, k := range knownList {
		known[k] = true
	}
	dir := filepath.Dir(pb.Path)
	// One problem (a bad [group:vars] line, -e) shared by many hosts is
	// reported once, naming them.
	byProblem := map[string][]string{}
	problemHost := map[string]bool{} // problem and host, each once
	var order diag.Diagnostics
	cache := newExprCache() // shared: hosts mostly hold the same group vars' templates
	// a play without vars gives a host the same values as any other such
	// play: each host is checked once for all of them
	plain := map[string]bool{}
	for _, p := range pb.Plays {
		hosts, err := PlayHosts(o.Inventory, p, o.Limit)
		if err != nil {
			continue // a bad pattern or --limit is reported elsewhere
		}
		playVars, playSrc := staticPlayVars(p, dir)
		for _, h := range hosts {
			if len(playVars) == 0 {
				if plain[h] {
					continue
				}
				plain[h] = true
			}
			vars := o.Inventory.HostVars(h)
			if vars == nil {
				vars = map[string]any{}
			}
			src := map[string]varSource{}
			source := func(k string) varSource {
				if s, ok := src[k]; ok {
					return s
				}
				if vp != nil {
					if pos, ok := vp.VarPos(h, k); ok {
						return varSource{pos: pos}
					}
				}
				return varSource{name: "inventory host " + h}
			}
			for k, v := range playVars {
				vars[k], src[k] = v, playSrc[k]
			}
			for k, v := range o.ExtraVars {
				vars[k], src[k] = v, varSource{name: "-e " + k}
			}
			if wantErrs {
				for _, d := range checkConnVars(cache, h, vars, source, o) {
					k := d.String()
					if byProblem[k] == nil {
						order = append(order, d)
					}
					if hk := k + "\x00" + h; !problemHost[hk] {
						problemHost[hk] = true
						byProblem[k] = append(byProblem[k], h)
					}
				}
			}
			if !wantWarns {
				continue
			}
			for k := range vars {
				if !strings.HasPrefix(k, "ansible_") || known[k] {
					continue
				}
				if s := diag.Suggest(k, knownList); s != "" {
					add(&warns, diag.Diagnostic{Pos: source(k).at(), Msg: fmt.Sprintf("unknown variable %q is ignored (did you mean %q?)", k, s)})
				}
			}
		}
	}
	for _, d := range order {
		hs := byProblem[d.String()]
		who := "host " + hs[0]
		if len(hs) > 1 {
			shown := hs[:min(len(hs), 5)]
			who = "hosts " + strings.Join(shown, ", ")
			if len(hs) > len(shown) {
				who += fmt.Sprintf(" and %d more", len(hs)-len(shown))
			}
		}
		add(&errs, diag.Diagnostic{Pos: d.Pos, Msg: who + ": " + d.Msg})
	}
	errs.Sort()
	warns.Sort()
	return errs, warns
}

// unknownValue stands for a play variable whose value is only known at run
// time (a template, an unreadable vars file).
type unknownValue struct{}

// staticPlayVars are a play's vars and vars_files as far as they can be
// known before the run; the others are unknownValue.
func staticPlayVars(p *dsl.Play, dir string) (map[string]any, map[string]varSource) {
	vars, src := map[string]any{}, map[string]varSource{}
	for _, e := range p.Vars {
		src[e.Key] = varSource{pos: e.KeyPos}
		if hasTemplate(e.Value) {
			vars[e.Key] = unknownValue{}
			continue
		}
		v, err := evalValue(e.Value, nil)
		if err != nil {
			vars[e.Key] = unknownValue{}
			continue
		}
		vars[e.Key] = v
	}
	for _, f := range p.VarsFiles {
		name, ok := f.Scalar.(string)
		if f.Kind != dsl.Scalar || !ok || isTemplate(name) {
			continue // known at run time only; rare for connection vars
		}
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, name)
		}
		m, err := loadVarsFile(path)
		if err != nil {
			continue // the run reports it
		}
		for k, v := range m {
			vars[k], src[k] = v, varSource{pos: f.Pos, name: name}
		}
	}
	return vars, src
}

// checkConnVars applies hostSpec's, becomeOpts' and the dialers' rules to
// one host's variables; the caller names the host in the messages.
func checkConnVars(cache *exprCache, host string, vars map[string]any, source func(string) varSource, o CheckOptions) diag.Diagnostics {
	var ds diag.Diagnostics
	// value renders vars[k]; ok is false when it cannot be known now.
	value := func(k string) (any, bool) {
		v, present := vars[k]
		if !present {
			return nil, true
		}
		for range 5 {
			if _, unk := v.(unknownValue); unk {
				return nil, false
			}
			if !rawTemplated(v) {
				return v, true
			}
			r, err := renderRaw(cache, v, vars, k)
			if err != nil {
				return nil, false // needs facts or registered results: connect time
			}
			v = r
		}
		return nil, false
	}
	bad := func(k, format string, args ...any) {
		s := source(k)
		msg := fmt.Sprintf(format, args...)
		if s.pos.File != "" && s.name != "" {
			msg += " (from vars_files " + s.name + ")"
		}
		ds = append(ds, diag.Diagnostic{Pos: s.at(), Msg: msg})
	}
	// scalar: a string or a number, as Ansible's string options take.
	scalar := func(k string) (string, bool) {
		v, ok := value(k)
		if !ok || v == nil {
			return "", false
		}
		switch x := v.(type) {
		case string:
			return x, true
		case int, int64, float64, bool:
			return fmt.Sprint(x), true
		}
		bad(k, "%s must be a string, not %s", k, diag.TypeName(v))
		return "", false
	}
	for _, k := range []string{"ansible_host", "ansible_ssh_host", "ansible_user", "ansible_ssh_user",
		"ansible_ssh_private_key_file", "ansible_private_key_file", "ansible_become_user"} {
		scalar(k)
	}
	// hostSpec takes the first non-empty of ansible_port, ansible_ssh_port
	for _, k := range []string{"ansible_port", "ansible_ssh_port"} {
		if p, ok := scalar(k); ok && p != "" {
			if _, err := parsePort(k, p); err != nil {
				bad(k, "%v", err)
			}
			break
		}
		if _, ok := value(k); !ok {
			break // templated and unknown: it may win at run time
		}
	}
	conn := "ssh"
	if c, ok := scalar("ansible_connection"); ok || vars["ansible_connection"] == nil {
		conn = connectionName(host, c)
		if o.Connections != nil && !slices.Contains(o.Connections, conn) {
			hint := ""
			if s := diag.Suggest(c, o.Connections); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			bad("ansible_connection", "ansible_connection %q is not supported (kplay has %s)%s",
				c, strings.Join(o.Connections, ", "), hint)
		}
	} else {
		conn = ""
	}
	if v, ok := value("ansible_become"); ok && v != nil {
		if _, isBool := truthy(v); !isBool {
			bad("ansible_become", "ansible_become must be a boolean (true/false, yes/no), not %q", fmt.Sprint(v))
		}
	}
	if o.ConnVarsCheck != nil && conn != "" {
		rendered := map[string]any{}
		for _, k := range o.ConnVarNames {
			if v, ok := value(k); ok && v != nil {
				rendered[k] = v
			}
		}
		errs := o.ConnVarsCheck(conn, rendered)
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			bad(k, "%v", errs[k])
		}
	}
	return ds
}

func rawTemplated(v any) bool {
	switch x := v.(type) {
	case string:
		return isTemplate(x)
	case []any:
		return slices.ContainsFunc(x, rawTemplated)
	case map[string]any:
		for _, e := range x {
			if rawTemplated(e) {
				return true
			}
		}
	}
	return false
}

// HostVarWarnings are the static check's warnings about the hosts' variables:
// misspelt ansible_* names (Ansible ignores unknown variables, so these do
// not stop the run) and ssh key files that do not exist.
func HostVarWarnings(pb *dsl.Playbook, o CheckOptions) diag.Diagnostics {
	_, warns := hostVarsCheck(pb, o, false, true)
	return warns
}
