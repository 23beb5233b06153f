package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress is drawn by hand on stderr: one line rewritten with "\r",
// throttled, and cleared at the end. It is on when stderr is a terminal
// (--progress auto), so logs and pipes never see it.

const progressEvery = 200 * time.Millisecond

// progressFlag registers --progress on fs and returns its value.
func progressFlag(fs *flag.FlagSet) *string {
	return fs.String("progress", "auto", "when to draw a progress line on stderr: `MODE` auto (when stderr is a terminal), always or never")
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress draws one status line on stderr.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	start time.Time
	last  time.Time
	width int // length of the last line drawn, to clear it
}

// newProgress returns a progress line for e according to mode.
func newProgress(e *env, mode string) (*progress, error) {
	p := &progress{w: e.stderr, start: time.Now()}
	switch mode {
	case "auto":
		p.on = isTerminal(e.stderr)
	case "always":
		p.on = true
	case "never":
	default:
		return nil, usagef("--progress is %q: want auto, always or never", mode)
	}
	return p, nil
}

// draw shows line unless one was drawn less than progressEvery ago; force
// draws it anyway.
func (p *progress) draw(line string, force bool) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !force && now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	pad := ""
	if n := len(line); n < p.width {
		pad = strings.Repeat(" ", p.width-n)
	}
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
}

// clear removes the line, leaving the cursor at the start of an empty line.
func (p *progress) clear() {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
}

// restart counts the elapsed time, and so the time left, from now.
func (p *progress) restart() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start = time.Now()
}

// clearFirst writes to w after clearing p's line (p may be nil), so that
// what it writes starts on a line of its own.
type clearFirst struct {
	p *progress
	w io.Writer
}

func (c clearFirst) Write(b []byte) (int, error) {
	c.p.clear()
	return c.w.Write(b)
}

// elapsed returns the time since the progress line was created.
func (p *progress) elapsed() time.Duration { return time.Since(p.start) }

// rate returns n per second since the start.
func (p *progress) rate(n int64) float64 {
	s := p.elapsed().Seconds()
	if s <= 0 {
		return 0
	}
	return float64(n) / s
}

// of says how far a task of total units has come: "done of total, 37%,
// about 1m20s left", each count written by format. With total unknown (0
// or less: input from a pipe) it is the count alone. The time left is
// extrapolated from the rate since the start, once there is one to go by.
func (p *progress) of(done, total int64, format func(int64) string) string {
	if total <= 0 {
		return format(done)
	}
	done = min(max(done, 0), total)
	s := fmt.Sprintf("%s of %s, %d%%", format(done), format(total), done*100/total)
	if el := p.elapsed(); done > 0 && done < total && el >= time.Second {
		left := time.Duration(float64(el) * float64(total-done) / float64(done))
		s += ", about " + left.Round(time.Second).String() + " left"
	}
	return s
}

// bar draws a bar of width cells for done out of total.
func bar(done, total int64, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	n := min(int(done*int64(width)/total), width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// humanBytes formats n bytes with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// thousands formats n with commas: 100000 → 100,000.
func thousands(n int64) string {
	s, sign := fmt.Sprint(n), ""
	if n < 0 { // the digits of -n: -n itself overflows for the smallest int64
		s, sign = s[1:], "-"
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return sign + s
}

// plural formats n with commas and noun, plural unless n is 1: "1 node",
// "2,000 nodes", "3 processes".
func plural(n int64, noun string) string {
	if n != 1 {
		if strings.HasSuffix(noun, "s") {
			noun += "es"
		} else {
			noun += "s"
		}
	}
	return thousands(n) + " " + noun
}
