package ssh

import (
	"fmt"
	"strings"
)

// Quote returns s as one POSIX shell word: single-quoted, with every single
// quote closed, escaped and reopened. Every path, argument and command kplay
// sends through `sh -c` goes through here, so no byte of user data is ever
// interpreted by the remote shell.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// validEnvName reports whether name can be exported by a POSIX shell.
func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

// commandScript turns a command's working directory, environment and text
// into one shell script that behaves like `cd DIR && env K=V sh -c CMD`
// without starting another shell.
func commandScript(cmd, dir string, env map[string]string) (string, error) {
	var b strings.Builder
	if dir != "" {
		fmt.Fprintf(&b, "cd -- %s || exit 1\n", Quote(dir))
	}
	for _, k := range sortedKeys(env) {
		if !validEnvName(k) {
			return "", fmt.Errorf("environment variable name %q is not a valid shell name", k)
		}
		fmt.Fprintf(&b, "%s=%s; export %s\n", k, Quote(env[k]), k)
	}
	b.WriteString(cmd)
	return b.String(), nil
}

// becomeWrap runs script as user through `sudo -n`, which fails instead of
// prompting when a password would be needed.
func becomeWrap(script, user string) string {
	return "exec sudo -n -u " + Quote(user) + " -- /bin/sh -c " + Quote(script)
}
