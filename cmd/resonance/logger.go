package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// warnHandler prints the warnings a store logs (a database moved while
// open, housekeeping skipped at close…) on the CLI's stderr, one line
// each: the message, then its attributes other than the database's path,
// which the message names.
type warnHandler struct {
	mu *sync.Mutex
	w  io.Writer
}

func newWarnLogger(w io.Writer) *slog.Logger {
	return slog.New(warnHandler{mu: new(sync.Mutex), w: w})
}

func (h warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h warnHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "db" {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := fmt.Fprintln(h.w, b.String())
	return err
}

func (h warnHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warnHandler) WithGroup(string) slog.Handler      { return h }
