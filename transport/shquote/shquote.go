// Package shquote turns strings into POSIX shell words and back. Every path or
// argument kplay sends through `sh -c` goes through Quote, so a file name with
// spaces, quotes, `$(...)`, `;` or a newline is data, never code.
package shquote

import (
	"errors"
	"strings"
)

// Quote returns s as one shell word that sh reads back as exactly s, with no
// expansion of any kind. Words made only of harmless characters stay bare so
// commands remain readable in logs.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isBare(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isBare reports whether s needs no quoting. '=' is left out on purpose: a
// bare first word a=b would be read as a variable assignment; '~' would be
// expanded at the start of a word.
func isBare(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("_@%+:,./-", r):
		default:
			return false
		}
	}
	return true
}

// Join quotes each word and joins them with spaces: the result, given to
// `sh -c`, runs words[0] with the other words as its exact arguments.
func Join(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

// ErrUnterminated is returned by Split for an open quote or a trailing
// backslash.
var ErrUnterminated = errors.New("unterminated quote or trailing backslash")

// Split cuts a command line into words with the shell's quoting rules and
// none of its expansions (Ansible's command module does the same with
// Python's shlex): blanks separate words; '...' is literal; inside "..." a
// backslash escapes only $ ` " \ and newline; outside quotes a backslash
// escapes the next character and backslash-newline disappears. Operators
// such as ; | && are ordinary characters: there is no shell to run them.
func Split(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	// Bytes, not runes: every special character is ASCII, and invalid UTF-8
	// must come back unchanged.
	rs := s
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '\\':
			if i+1 >= len(rs) {
				return nil, ErrUnterminated
			}
			i++
			if rs[i] == '\n' {
				continue // line continuation
			}
			cur.WriteByte(rs[i])
			inWord = true
		case r == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				j++
			}
			if j >= len(rs) {
				return nil, ErrUnterminated
			}
			cur.WriteString(rs[i+1 : j])
			i = j
			inWord = true
		case r == '"':
			j := i + 1
			closed := false
			for ; j < len(rs); j++ {
				c := rs[j]
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && j+1 < len(rs) && strings.IndexByte("$`\"\\\n", rs[j+1]) >= 0 {
					j++
					if rs[j] != '\n' {
						cur.WriteByte(rs[j])
					}
					continue
				}
				cur.WriteByte(c)
			}
			if !closed {
				return nil, ErrUnterminated
			}
			i = j
			inWord = true
		default:
			cur.WriteByte(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
