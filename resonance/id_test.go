package resonance_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestGenerateID holds the ids the original computes (D7). The first
// thirteen pairs were computed by the original itself; every other
// expectation is what its generateId gives in a JavaScript engine (node 20):
// path.replace(/^\.+\//, ”).replace(/\.(md|ts|js|json)$/, ”).toLowerCase()
// .replace(/[^a-z0-9/]/g, '-').replace(/\//g, '-').replace(/-+/g, '-').replace(/^-|-$/g, ”).
func TestGenerateID(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
		// Computed by the original.
		{"UpperMD", "Notes.MD", "notes-md"},
		{"UpperJSON", "UPPER.JSON", "upper-json"},
		{"UpperJS", "file.JS", "file-js"},
		{"UpperPathTS", "UPPER/Case/PATH.TS", "upper-case-path-ts"},
		{"MixedCaseMd", "README.Md", "readme-md"},
		{"KelvinSign", "K\u212Aelvin.md", "kkelvin"},
		{"UmlautsAndSharpS", "ÄÖÜ/straße.md", "stra-e"},
		{"ThreeDotsSlash", ".../x.md", "x"},
		{"DoubleMD", "x.md.md", "x-md"},
		{"DTS", "name.d.ts", "name-d"},
		{"TitlecaseDZ", "\u01C5ungla.md", "ungla"},
		{"LigatureFI", "\uFB01le.md", "le"},
		{"CJKOnly", "日本語.md", ""},
		// Computed with the original's generateId in node.
		{"SpecExample", "./docs/My Notes.md", "docs-my-notes"},
		{"Empty", "", ""},
		{"AlreadyID", "docs-my-notes", "docs-my-notes"},
		{"NestedParents", "../../a/b.md", "a-b"},
		{"RepeatedDotSlash", "./././x", "x"},
		{"MixedRelativeRun", ".././../docs/x.ts", "docs-x"},
		{"DotSlashOnly", "./", ""},
		{"ParentOnly", "../..", ""},
		{"InnerParentKept", "a/../b.md", "a-b"},
		{"ExtensionMD", "notes.md", "notes"},
		{"ExtensionTS", "src/index.ts", "src-index"},
		{"ExtensionJS", "src/index.js", "src-index"},
		{"ExtensionJSON", "package.json", "package"},
		{"UpperJSONOnly", "Config.Json", "config-json"},
		{"OtherExtensionKept", "main.go", "main-go"},
		{"MJSKept", "x.mjs", "x-mjs"},
		{"TSXKept", "x.tsx", "x-tsx"},
		{"UpperThenLower", "x.MD.md", "x-md"},
		{"LowerThenUpper", "x.json.MD", "x-json-md"},
		{"ExtensionNotAtEnd", "a.md/b", "a-md-b"},
		{"ExtensionWithoutName", ".md", ""},
		{"DotsBeforeExtension", "..md", ""},
		{"SlashDotMD", "a/.md", "a"},
		{"ExtensionPrefixOnly", "x.mdx", "x-mdx"},
		{"TrailingDot", "name.d.ts.", "name-d-ts"},
		{"TrailingSpace", "a.md ", "a-md"},
		{"Dots", "a.b.c.md", "a-b-c"},
		{"Hidden", ".hidden", "hidden"},
		{"HiddenDir", "./.config/app.json", "config-app"},
		{"TrailingSlash", "docs/notes/", "docs-notes"},
		{"TrailingSlashAfterExtension", "docs/a.md/", "docs-a-md"},
		{"DoubleSlashes", "docs//a///b.md", "docs-a-b"},
		{"AbsolutePath", "/home/u/Notes.md", "home-u-notes"},
		{"OnlyPunctuation", "!@#$%^&*()", ""},
		{"PunctuationRuns", "a -- b__c!!d", "a-b-c-d"},
		{"DashesTrimmed", "-a--b-", "a-b"},
		{"Digits", "2024/01-02 Log.md", "2024-01-02-log"},
		{"Accents", "Café/Ünïcode.md", "caf-n-code"},
		{"KelvinAlone", "\u212A", "k"},
		{"DottedCapitalI", "\u0130stanbul.md", "i-stanbul"},
		{"TwoDottedCapitalI", "\u0130\u0130", "i-i"},
		{"CombiningDot", "a\u0307b", "a-b"},
		{"DecomposedAcute", "e\u0301", "e"},
		{"AngstromSign", "a\u212Bb", "a-b"},
		{"OhmSign", "\u2126x", "x"},
		{"GreekFinalSigma", "ΟΔΟΣ.md", ""},
		{"GreekSigmaWord", "ΣΑ", ""},
		{"SharpS", "ß.md", ""},
		{"CapitalSharpS", "\u1E9E.md", ""},
		{"RomanNumeral", "\u2160.md", ""},
		{"CircledLetter", "\u24B6.md", ""},
		{"Fullwidth", "Ａｂｃ.md", ""},
		{"MathBold", "\U0001D400bc", "bc"},
		{"Deseret", "x\U00010400y", "x-y"},
		{"WindowsSeparators", ".\\docs\\My File.md", "docs-my-file"},
		{"DriveLetter", "C:\\Users\\Me\\Notes.md", "c-users-me-notes"},
		{"ControlCharacters", "a\tb\nc", "a-b-c"},
		{"Emoji", "📝 notes/Today.md", "notes-today"},
		// Not expressible in JavaScript (its strings are UTF-16): invalid
		// UTF-8 counts as a character outside [a-z0-9].
		{"InvalidUTF8", "a\xffb", "a-b"},
		{"InvalidUTF8AfterSigma", "\u0391\u03a3\xff", ""},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resonance.GenerateID(tt.path); got != tt.want {
				t.Errorf("GenerateID(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestGenerateID_CanonicalInputDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_ = resonance.GenerateID("docs-my-notes.md")
	})
	if allocs != 0 {
		t.Errorf("GenerateID on a canonical path: %v allocations, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		_ = resonance.GenerateID("./docs/My Notes.md")
	})
	if allocs > 1 {
		t.Errorf("GenerateID: %v allocations, want at most 1", allocs)
	}
}

func BenchmarkGenerateID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = resonance.GenerateID("../../docs/Architecture/Connection Management.md")
	}
}

// FuzzGenerateID checks what holds for every path: the id uses only
// [a-z0-9-] without a leading, trailing or doubled '-'; it is its own id;
// ASCII letters and digits of the path survive in order (so the id never
// holds a character the path lacks, bar the two whose lower case is ASCII:
// the Kelvin sign and U+0130); and a path that is a valid id apart from a
// "./" prefix or a ".md" suffix maps to that id.
func FuzzGenerateID(f *testing.F) {
	for _, seed := range []string{
		"", "./docs/My Notes.md", "../../a/b.md", "./././x", "a.b.c.md",
		".hidden", "docs/notes/", "Caf\u00e9/\u00dcn\u00efcode.md", "!@#$", "README.MD",
		"a\xffb", "-a--b-", ".md", "../", "x.json.ts", "K\u212Aelvin.md",
		"\u0130stanbul", "\u039f\u0394\u039f\u03a3.md", "\u01C5ungla.md", ".../x.md",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		id := resonance.GenerateID(path)
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				t.Fatalf("GenerateID(%q) = %q: byte %q outside [a-z0-9-]", path, id, c)
			}
		}
		if strings.HasPrefix(id, "-") || strings.HasSuffix(id, "-") {
			t.Fatalf("GenerateID(%q) = %q: leading or trailing '-'", path, id)
		}
		if strings.Contains(id, "--") {
			t.Fatalf("GenerateID(%q) = %q: contains \"--\"", path, id)
		}
		if again := resonance.GenerateID(id); again != id {
			t.Fatalf("GenerateID(GenerateID(%q)) = %q, want %q", path, again, id)
		}
		if alnum := asciiAlnumLower(path); len(id) > 0 && !strings.Contains(path, "\u212A") && !strings.Contains(path, "\u0130") {
			kept := strings.ReplaceAll(id, "-", "")
			if !isSubsequence(kept, alnum) {
				t.Fatalf("GenerateID(%q) = %q: holds characters that are not the path's letters and digits %q", path, id, alnum)
			}
		}
		if utf8.ValidString(path) && resonance.GenerateID("./"+id+".md") != id {
			t.Fatalf("GenerateID(%q) = %q, want %q", "./"+id+".md", resonance.GenerateID("./"+id+".md"), id)
		}
	})
}

// asciiAlnumLower returns the ASCII letters and digits of s, lower-cased.
func asciiAlnumLower(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b.WriteByte(c)
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	return b.String()
}

// isSubsequence reports whether sub's bytes appear in s in order.
func isSubsequence(sub, s string) bool {
	for i := 0; i < len(s) && len(sub) > 0; i++ {
		if s[i] == sub[0] {
			sub = sub[1:]
		}
	}
	return len(sub) == 0
}
