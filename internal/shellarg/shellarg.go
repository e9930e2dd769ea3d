// Package shellarg quotes values for a POSIX shell. Conn.Run takes one
// command string for `sh -c`; every value a module puts into it goes
// through Quote, so a path or unit name can never become shell syntax.
package shellarg

import "strings"

// Quote returns s as one shell word: single-quoted, each single quote inside
// written as quote, backslash, quote, quote. The empty string becomes a pair
// of quotes.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%_+:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each word and joins them with spaces.
func Join(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}
