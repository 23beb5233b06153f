// Command gen writes the example Resonance Graph (see package example) as
// JSON Lines. `go generate ./cmd/resonance/example` runs it to refresh graph.jsonl.
//
// Usage:
//
//	go run ./cmd/resonance/example/gen [-o FILE]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/resonance-graph/resonancedb/cmd/resonance/example"
)

func main() {
	out := flag.String("o", "-", "output file (- for stdout)")
	flag.Parse()
	var buf bytes.Buffer
	if err := example.Generate(&buf); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	var err error
	if *out == "-" {
		_, err = os.Stdout.Write(buf.Bytes())
	} else {
		err = os.WriteFile(*out, buf.Bytes(), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
