package resonance

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// idExtensions are the file extensions GenerateID drops, matched exactly
// (in lower case only), as the original's regular expression does.
var idExtensions = [...]string{".md", ".ts", ".js", ".json"}

// GenerateID derives a node id from a file path the way the original does
// (D7), so a file gets the same id in both: "./docs/My Notes.md" →
// "docs-my-notes".
//
// The steps, in order:
//
//  1. A leading run of dots followed by a slash is dropped, once ("./a",
//     "../a" and ".../a" all become "a").
//  2. One trailing ".md", ".ts", ".js" or ".json" is dropped. The match is
//     case-sensitive: "Notes.MD" keeps its extension and becomes "notes-md".
//  3. The rest is lower-cased as JavaScript's toLowerCase does it, with the
//     full Unicode case mapping: the Kelvin sign U+212A becomes "k", and
//     U+0130 ("İ") becomes "i" followed by a combining dot above.
//  4. Every character outside [a-z0-9] — slashes, other ASCII, and every
//     non-ASCII character left after step 3 — becomes '-', runs of '-'
//     collapse to one, and a leading and a trailing '-' are removed.
//     Invalid UTF-8 counts as non-ASCII.
//
// The result holds only [a-z0-9-], never starts or ends with '-', never
// contains "--", and may be empty (for "", "./", ".md", "日本語.md");
// callers that need a non-empty id must check. GenerateID is idempotent:
// GenerateID(GenerateID(p)) == GenerateID(p).
func GenerateID(path string) string {
	s := trimDotsSlash(path)
	s = trimIDExtension(s)
	if isCanonicalID(s) {
		return s
	}
	if !isASCII(s) {
		s = lowerJS(s)
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

// trimDotsSlash drops a leading run of dots followed by a slash, once: the
// original's /^\.+\//.
func trimDotsSlash(s string) string {
	i := 0
	for i < len(s) && s[i] == '.' {
		i++
	}
	if i > 0 && i < len(s) && s[i] == '/' {
		return s[i+1:]
	}
	return s
}

// trimIDExtension drops one trailing extension from idExtensions, matched
// case-sensitively.
func trimIDExtension(s string) string {
	for _, ext := range idExtensions {
		if strings.HasSuffix(s, ext) {
			return s[:len(s)-len(ext)]
		}
	}
	return s
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lowerJS lower-cases s as JavaScript's String.prototype.toLowerCase does:
// the full, language-independent Unicode case mapping. That is the simple
// mapping of unicode.ToLower (what strings.ToLower applies) plus the two
// lower-case rules of SpecialCasing.txt that are not language-specific:
//
//   - U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE becomes two characters,
//     "i" and U+0307 COMBINING DOT ABOVE (strings.ToLower gives "i" alone);
//   - Final_Sigma: U+03A3 GREEK CAPITAL LETTER SIGMA becomes the final form
//     U+03C2 "ς" when it ends a word (a cased letter before it and none after
//     it, case-ignorable characters skipped), else U+03C3 "σ".
//
// Bytes that are not valid UTF-8 are kept as they are.
func lowerJS(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 1)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteByte(s[i])
		case r == '\u0130':
			b.WriteString("i\u0307")
		case r == 'Σ':
			if finalSigma(s[:i], s[i+size:]) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
		i += size
	}
	return b.String()
}

// finalSigma is Unicode's Final_Sigma condition for a sigma between before
// and after: before it, a cased letter followed by zero or more
// case-ignorable characters; after it, no cased letter after zero or more
// case-ignorable characters.
func finalSigma(before, after string) bool {
	casedBefore := false
	for len(before) > 0 {
		r, size := utf8.DecodeLastRuneInString(before)
		before = before[:len(before)-size]
		if !caseIgnorable(r) {
			casedBefore = cased(r)
			break
		}
	}
	if !casedBefore {
		return false
	}
	for len(after) > 0 {
		r, size := utf8.DecodeRuneInString(after)
		after = after[size:]
		if !caseIgnorable(r) {
			return !cased(r)
		}
	}
	return true
}

// cased is Unicode's Cased property: Lowercase, Uppercase or titlecase.
func cased(r rune) bool {
	return unicode.In(r, unicode.Ll, unicode.Lu, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// wordBreakMid are the characters of Word_Break MidLetter, MidNumLet and
// Single_Quote, which Case_Ignorable includes; the unicode package has no
// Word_Break tables.
const wordBreakMid = ":\u00B7\u0387\u055F\u05F4\u2027\uFE13\uFE55\uFF1A" + // MidLetter
	".\u2018\u2019\u2024\uFE52\uFF07\uFF0E" + // MidNumLet
	"'" // Single_Quote

// caseIgnorable is Unicode's Case_Ignorable property.
func caseIgnorable(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk) || strings.ContainsRune(wordBreakMid, r)
}
