package resonance

import "strings"

// idExtensions are the file extensions GenerateID drops (SPEC D7). Each is
// stored in lower case; the match is case-insensitive.
var idExtensions = [...]string{".md", ".ts", ".js", ".json"}

// GenerateID derives a node id from a file path (SPEC D7), for example
// "./docs/My Notes.md" → "docs-my-notes".
//
// The steps, in order:
//
//  1. A leading run of "./" and "../" segments is dropped ("../../a/b.md",
//     "./././x").
//  2. One trailing ".md", ".ts", ".js" or ".json" extension is dropped. The
//     match is case-insensitive, so "Notes.MD" and "notes.md" give the same
//     id; an extension anywhere but at the very end is kept ("a.md/" →
//     "a-md").
//  3. ASCII letters are lowercased. Lowercasing is ASCII-only on purpose:
//     every non-ASCII character becomes '-', including those whose Unicode
//     lower case is ASCII (the Kelvin sign U+212A), so the result never
//     depends on the Unicode tables of the Go release ("Café/Ünïcode.md" →
//     "caf-n-code"). Invalid UTF-8 is treated the same way.
//  4. Every character outside [a-z0-9] — slashes included — becomes '-',
//     runs of '-' collapse to one, and leading and trailing '-' are removed.
//
// The result holds only [a-z0-9-], never starts or ends with '-', never
// contains "--", and may be empty (for "", "./", "...", ".md"); callers that
// need a non-empty id must check. GenerateID is idempotent:
// GenerateID(GenerateID(p)) == GenerateID(p).
//
// GenerateID makes one pass over the path and allocates at most once; a path
// whose remainder after steps 1 and 2 is already a valid id is returned
// without allocating.
func GenerateID(path string) string {
	s := trimRelativePrefix(path)
	s = trimIDExtension(s)
	if isCanonicalID(s) {
		return s
	}

	var b strings.Builder
	b.Grow(len(s))
	dash := false // a '-' is owed before the next kept byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		default:
			dash = true
			continue
		}
		if dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		dash = false
		b.WriteByte(c)
	}
	return b.String()
}

// trimRelativePrefix drops a leading run of "./" and "../" segments.
func trimRelativePrefix(s string) string {
	for {
		switch {
		case strings.HasPrefix(s, "./"):
			s = s[2:]
		case strings.HasPrefix(s, "../"):
			s = s[3:]
		default:
			return s
		}
	}
}

// trimIDExtension drops one trailing extension from idExtensions, ignoring
// ASCII case.
func trimIDExtension(s string) string {
	for _, ext := range idExtensions {
		if n := len(s) - len(ext); n >= 0 && equalFoldASCII(s[n:], ext) {
			return s[:n]
		}
	}
	return s
}

// equalFoldASCII reports whether s equals lower, an ASCII lower-case
// string of the same length, ignoring ASCII case only.
func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// isCanonicalID reports whether s is already GenerateID's output for itself:
// only [a-z0-9-], no leading or trailing '-', no "--". The empty string is
// canonical.
func isCanonicalID(s string) bool {
	prevDash := true // rejects a leading '-'
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			prevDash = false
		case c == '-':
			if prevDash {
				return false
			}
			prevDash = true
		default:
			return false
		}
	}
	return len(s) == 0 || !prevDash
}
