package main

import (
	"strings"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// When another connection held SQLite's checkpoint lock the library reports
// OtherCheckpoint; the command says so instead of "-1 of -1 frames" (W5).
func TestCheckpoint_ReportsAnotherCheckpoint(t *testing.T) {
	var b strings.Builder
	printCheckpoint(&b, checkpointResult{resonance.Checkpoint{Busy: true, OtherCheckpoint: true, WALBytes: 4152}, 200 * time.Millisecond})
	out := b.String()
	if !strings.Contains(out, "another connection") || !strings.Contains(out, "was checkpointing") || strings.Contains(out, "-1") {
		t.Errorf("checkpoint blocked by another checkpoint printed %q; want it to name the other checkpoint", out)
	}
	b.Reset()
	printCheckpoint(&b, checkpointResult{Checkpoint: resonance.Checkpoint{Busy: true, LogFrames: 120, Checkpointed: 80, WALBytes: 4152}})
	if out := b.String(); !strings.Contains(out, "partial") || !strings.Contains(out, "80 of 120") {
		t.Errorf("partial checkpoint printed %q; want partial, 80 of 120 frames", out)
	}
}
