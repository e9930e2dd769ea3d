package dsl

// testSchemas mirrors the real modules' arguments closely enough for the
// parser tests; dsl must not import the modules themselves.
func testSchemas() map[string]ModuleSchema {
	str := ArgSpec{Type: "string"}
	req := func(t string) ArgSpec { return ArgSpec{Type: t, Required: true} }
	boolean := ArgSpec{Type: "bool"}
	mode := ArgSpec{Type: "mode"}
	m := map[string]ModuleSchema{
		"shell": {Name: "shell", FreeForm: "cmd", Args: map[string]ArgSpec{
			"cmd": str, "chdir": str, "creates": str, "removes": str, "executable": str, "stdin": str}},
		"command": {Name: "command", FreeForm: "cmd", Args: map[string]ArgSpec{
			"cmd": str, "argv": {Type: "list"}, "chdir": str, "creates": str, "removes": str, "stdin": str}},
		"copy": {Name: "copy", Args: map[string]ArgSpec{
			"src": str, "content": str, "dest": req("string"), "mode": mode, "owner": str, "group": str,
			"backup": boolean, "force": boolean}},
		"template": {Name: "template", Args: map[string]ArgSpec{
			"src": req("string"), "dest": req("string"), "mode": mode, "owner": str, "group": str, "backup": boolean}},
		"file": {Name: "file", Args: map[string]ArgSpec{
			"path":  {Name: "path", Type: "string", Required: true},
			"dest":  {Name: "path", Type: "string", Required: true},
			"name":  {Name: "path", Type: "string", Required: true},
			"state": {Type: "string", Choices: []string{"absent", "directory", "file", "link", "touch"}},
			"mode":  mode, "owner": str, "group": str, "src": str, "recurse": boolean}},
		"debug": {Name: "debug", Args: map[string]ArgSpec{"msg": {Type: "any"}, "var": str, "verbosity": {Type: "int"}}},
		"assert": {Name: "assert", Args: map[string]ArgSpec{
			"that": req("list"), "fail_msg": str, "msg": str, "success_msg": str, "quiet": boolean}},
		"set_fact": {Name: "set_fact", FreeKeys: true, Args: map[string]ArgSpec{"cacheable": boolean}},
		"systemd": {Name: "systemd", Args: map[string]ArgSpec{
			"name":          str,
			"state":         {Type: "string", Choices: []string{"reloaded", "restarted", "started", "stopped"}},
			"enabled":       boolean,
			"daemon_reload": boolean,
			"masked":        boolean}},
		"wait_for": {Name: "wait_for", Args: map[string]ArgSpec{
			"host": str, "port": {Type: "int"}, "path": str, "timeout": {Type: "duration"}, "delay": {Type: "duration"},
			"state": {Type: "string", Choices: []string{"absent", "present", "started", "stopped"}}}},
	}
	return m
}
