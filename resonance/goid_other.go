//go:build !amd64 && !arm64

package resonance

// goid returns an identity of the calling goroutine, used only to refuse a
// nested write transaction, which would otherwise wait for itself forever.
// On this architecture it is the numeric goroutine id.
func goid() int64 { return stackGoid() }
