package main

import (
	"fmt"
	"io"
	"strings"

	"kplay/diag"
	"kplay/modules"
)

// runDoc prints the module list, or one module's reference, from the
// registry: what `kplay doc` shows is what the binary runs.
func runDoc(args []string, stdout, stderr io.Writer) int {
	all := modules.All()
	if len(args) == 0 {
		fmt.Fprintln(stdout, "Modules (kplay doc MODULE for one):")
		for _, m := range all {
			in := m.Info()
			fmt.Fprintf(stdout, "  %-12s %s\n", in.Name, in.Summary)
		}
		return exitOK
	}
	code := exitOK
	for i, name := range args {
		m, ok := modules.Lookup(name)
		if !ok {
			var names []string
			for _, m := range all {
				names = append(names, m.Info().Name)
			}
			msg := fmt.Sprintf("kplay doc: unknown module %q", name)
			if s := diag.Suggest(name, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			fmt.Fprintln(stderr, msg)
			code = exitBadOptions
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		writeDoc(stdout, m.Info())
	}
	return code
}

func writeDoc(w io.Writer, in modules.Info) {
	fmt.Fprintf(w, "%s — %s\n", in.Name, in.Summary)
	if in.Doc != "" {
		fmt.Fprintf(w, "\n%s\n", wrapIndent(in.Doc, "  "))
	}
	if in.RunsOn == modules.OnController {
		fmt.Fprintf(w, "\nRuns on the control machine.\n")
	}
	if len(in.Args) > 0 {
		fmt.Fprintf(w, "\nArguments:\n")
		for _, a := range in.Args {
			var attrs []string
			attrs = append(attrs, string(a.Type))
			if a.Required {
				attrs = append(attrs, "required")
			}
			if a.Default != nil {
				attrs = append(attrs, fmt.Sprintf("default %v", a.Default))
			}
			if len(a.Choices) > 0 {
				attrs = append(attrs, "one of "+strings.Join(a.Choices, ", "))
			}
			if len(a.Aliases) > 0 {
				attrs = append(attrs, "aliases "+strings.Join(a.Aliases, ", "))
			}
			free := ""
			if a.Name == in.FreeForm {
				free = " (free form)"
			}
			fmt.Fprintf(w, "  %s%s (%s)\n", a.Name, free, strings.Join(attrs, "; "))
			if a.Doc != "" {
				fmt.Fprintf(w, "%s\n", wrapIndent(a.Doc, "      "))
			}
		}
	}
	if in.CheckMode != "" {
		fmt.Fprintf(w, "\nCheck mode: %s\n", in.CheckMode)
	}
	if in.Returns != "" {
		fmt.Fprintf(w, "\nReturns: %s\n", in.Returns)
	}
}

// wrapIndent indents every line of s.
func wrapIndent(s, indent string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = indent + l
		}
	}
	return strings.Join(lines, "\n")
}
