package resonance_test

import (
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

func TestGenerateID(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
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
		{"UppercaseExtension", "README.MD", "readme"},
		{"MixedCaseExtension", "Config.Json", "config"},
		{"OtherExtensionKept", "main.go", "main-go"},
		{"OnlyLastExtension", "a.md.md", "a-md"},
		{"ExtensionNotAtEnd", "a.md/b", "a-md-b"},
		{"ExtensionWithoutName", ".md", ""},
		{"ExtensionPrefixOnly", "x.mdx", "x-mdx"},
		{"Dots", "a.b.c.md", "a-b-c"},
		{"Hidden", ".hidden", "hidden"},
		{"HiddenDir", "./.config/app.json", "config-app"},
		{"TrailingSlash", "docs/notes/", "docs-notes"},
		{"TrailingSlashAfterExtension", "docs/a.md/", "docs-a-md"},
		{"DoubleSlashes", "docs//a///b.md", "docs-a-b"},
		{"AbsolutePath", "/home/u/Notes.md", "home-u-notes"},
		{"OnlyPunctuation", "!@#$%^&*()", ""},
		{"PunctuationRuns", "a -- b__c!!d", "a-b-c-d"},
		{"Digits", "2024/01-02 Log.md", "2024-01-02-log"},
		{"Unicode", "Café/Ünïcode.md", "caf-n-code"},
		{"UnicodeOnly", "日本語.md", ""},
		{"KelvinSignIsNotK", "\u212Aelvin", "elvin"},
		{"InvalidUTF8", "a\xffb", "a-b"},
		{"WindowsSeparators", `.\docs\My File.md`, "docs-my-file"},
		{"ControlCharacters", "a\tb\nc", "a-b-c"},
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

func FuzzGenerateID(f *testing.F) {
	for _, seed := range []string{
		"", "./docs/My Notes.md", "../../a/b.md", "./././x", "a.b.c.md",
		".hidden", "docs/notes/", "Café/Ünïcode.md", "!@#$", "README.MD",
		"a\xffb", "-a--b-", ".md", "../", "x.json.ts",
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
	})
}
