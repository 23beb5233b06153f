//go:build amd64 || arm64

package resonance

// getg returns the address of the runtime's descriptor of the calling
// goroutine (goid_amd64.s, goid_arm64.s).
func getg() uintptr

// goid returns an identity of the calling goroutine, used only to refuse a
// nested write transaction, which would otherwise wait for itself forever.
//
// It is the address of the goroutine's runtime descriptor: one load, where
// formatting the stack to read the numeric id cost about 10µs per
// transaction. The runtime reuses a descriptor only after its goroutine has
// exited, and a goroutine cannot exit while Store.Tx runs on its stack; the
// one case it can, an ExplicitTx handed to another goroutine, is confirmed
// with the numeric id (stackGoid) before a nested call is refused.
func goid() int64 { return int64(getg()) }
