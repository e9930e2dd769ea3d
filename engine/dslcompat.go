package engine

import (
	"os"

	"kplay/diag"
	"kplay/dsl"
)

// checkNames reports variables nothing defines. Until the parser's own
// CheckNames lands this finds nothing.
func checkNames(pb *dsl.Playbook, defined func(string) bool) diag.Diagnostics {
	return nil
}

// loadTemplateFile parses a template file so its errors carry its own lines.
func loadTemplateFile(path string) (*dsl.Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return dsl.ParseTemplate(string(b), diag.Pos{File: path, Line: 1, Col: 1})
}
