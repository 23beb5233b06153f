package resonance

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestLowerJS compares lowerJS with what JavaScript's toLowerCase returns
// (each want computed in node 20), including the two rules beyond the simple
// case mapping of strings.ToLower: U+0130 and the final sigma.
func TestLowerJS(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"ABC def", "abc def"},
		{"\u212A", "k"},                      // Kelvin sign: simple mapping to ASCII
		{"\u0130", "i\u0307"},                // strings.ToLower gives "i"
		{"a\u0130b", "ai\u0307b"},            // the dot follows the i
		{"\u01C5", "\u01C6"},                 // titlecase DŽ
		{"\uFB01", "\uFB01"},                 // ligature fi is lower case already
		{"STRASSE \u1E9E", "strasse \u00DF"}, // capital sharp s
		{"\u03A3", "\u03C3"},                 // a lone sigma is not final
		{"\u0391\u03A3", "\u03B1\u03C2"},     // word-final
		{"\u0391\u03A3\u0391", "\u03B1\u03C3\u03B1"},
		{"\u039F\u0394\u039F\u03A3 \u039F\u0394\u039F\u03A3", "\u03BF\u03B4\u03BF\u03C2 \u03BF\u03B4\u03BF\u03C2"},
		{"\u0391\u03A3.", "\u03B1\u03C2."},                       // '.' is case-ignorable, nothing cased follows
		{"\u0391\u03A3.\u0391", "\u03B1\u03C3.\u03B1"},           // ... a cased letter does
		{"\u0391\u03A3'\u0391", "\u03B1\u03C3'\u03B1"},           // Single_Quote
		{"\u0391\u03A3:\u0391", "\u03B1\u03C3:\u03B1"},           // MidLetter
		{"\u0391\u03A3\u2019\u0391", "\u03B1\u03C3\u2019\u03B1"}, // MidNumLet
		{"\u0391\u03A3-\u0391", "\u03B1\u03C2-\u03B1"},           // '-' is not case-ignorable
		{"\u0391\u02B0\u03A3", "\u03B1\u02B0\u03C2"},             // a modifier letter before is skipped
		{"\u0391\u03A3\u0301", "\u03B1\u03C2\u0301"},             // a combining mark after is skipped
		{"\u0391\u03A3\u0301\u0391", "\u03B1\u03C3\u0301\u03B1"},
		{"\u0391\u03A3\u00AD", "\u03B1\u03C2\u00AD"},         // soft hyphen (Cf)
		{"1\u03A3", "1\u03C3"},                               // a digit is not cased
		{"\u02B0\u03A3", "\u02B0\u03C3"},                     // nothing cased before the ignorable
		{"\u01C5\u03A3", "\u01C6\u03C2"},                     // a titlecase letter is cased
		{"\u0391\u03A3\U0001D400", "\u03B1\u03C3\U0001D400"}, // a cased letter outside the BMP
		{"\u0391\u03A3\u03A3", "\u03B1\u03C3\u03C2"},
		{"a\xffB", "a\xffb"}, // invalid UTF-8 is kept
	}
	for _, tt := range tests {
		if got := lowerJS(tt.in); got != tt.want {
			t.Errorf("lowerJS(%+q) = %+q, want %+q", tt.in, got, tt.want)
		}
	}
	// The controls: the simple mapping alone gets these wrong.
	if strings.ToLower("\u0130") == "i\u0307" || strings.ToLower("\u0391\u03A3") == "\u03B1\u03C2" {
		t.Fatal("strings.ToLower applies the special casing: the cases above prove nothing")
	}
}

// FuzzLowerJS: beyond U+0130 and the capital sigma, lowerJS is the simple
// case mapping of strings.ToLower; and it never changes ASCII other than
// A-Z.
func FuzzLowerJS(f *testing.F) {
	for _, s := range []string{"", "ABC", "\u0130", "\u0391\u03A3", "K\u212A", "\u01C5", "a\xffB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := lowerJS(s)
		if utf8.ValidString(s) && !strings.ContainsAny(s, "\u0130\u03A3") && got != strings.ToLower(s) {
			t.Fatalf("lowerJS(%+q) = %+q, strings.ToLower gives %+q", s, got, strings.ToLower(s))
		}
		if isASCII(s) {
			want := []byte(s)
			for i, c := range want {
				if 'A' <= c && c <= 'Z' {
					want[i] = c + 'a' - 'A'
				}
			}
			if got != string(want) {
				t.Fatalf("lowerJS(%q) = %q, want %q", s, got, want)
			}
		}
	})
}
