package resonance

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// minMagnitude is the L2 magnitude below which a vector scores 0 against
// any other in a search (rule D8).
const minMagnitude = 1e-6

// Normalize returns a new slice holding v scaled to unit L2 norm (rule D8).
// v itself is not modified.
//
// Normalize never returns NaN: a vector whose magnitude is 0 stays zero, and
// so does one whose magnitude is not finite because it holds NaN or ±Inf
// (encodeEmbedding refuses such vectors anyway). Either way the result is a
// zero slice of len(v). A nil or empty v gives nil. The magnitude is
// accumulated in float64.
func Normalize(v []float32) []float32 {
	if len(v) == 0 {
		return nil
	}
	out := make([]float32, len(v))
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	mag := math.Sqrt(sum)
	if mag == 0 || math.IsInf(mag, 0) || math.IsNaN(mag) {
		return out
	}
	for i, x := range v {
		out[i] = float32(float64(x) / mag)
	}
	return out
}

// encodeEmbedding returns v as raw little-endian IEEE 754 float32 bytes,
// 4 per element, the nodes.embedding column format (rule D1). Every bit is
// kept, including -0 and denormals, so DecodeEmbedding gives back exactly v.
//
// It returns an error naming the first element that is NaN or ±Inf, for
// example "embedding[17] is NaN". A nil or empty v gives nil, nil.
func encodeEmbedding(v []float32) ([]byte, error) {
	if len(v) == 0 {
		return nil, nil
	}
	if i, bits, ok := firstNonFinite(v); !ok {
		return nil, nonFiniteError(i, bits)
	}
	b := make([]byte, 4*len(v))
	if littleEndian {
		// The column format is the memory layout: one copy.
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(b)))
		return b, nil
	}
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b, nil
}

// DecodeEmbedding reads b, a nodes.embedding column (D1), as raw
// little-endian float32 values and returns a new slice. A length that is not
// a multiple of 4, or a NaN or ±Inf value, is an error (a corrupt blob); a
// nil or empty b gives nil, nil.
func DecodeEmbedding(b []byte) ([]float32, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("embedding blob is %d bytes, not a multiple of 4", len(b))
	}
	v := make([]float32, len(b)/4)
	if err := decodeInto(v, b); err != nil {
		return nil, err
	}
	return v, nil
}

// decodeInto is DecodeEmbedding into v, which holds exactly len(b)/4
// elements; len(b) is a multiple of 4.
func decodeInto(v []float32, b []byte) error {
	if littleEndian {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(b)), b)
	} else {
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	if i, bits, ok := firstNonFinite(v); !ok {
		return nonFiniteError(i, bits)
	}
	return nil
}

// decodeOwnedEmbedding is DecodeEmbedding for bytes that nobody else
// holds, such as a BLOB the driver has just copied out of SQLite: on a
// little-endian machine, when they are 4-byte aligned (every Go allocation
// of 4 bytes or more is), the result shares their memory instead of
// copying them. The caller must not use b afterwards.
func decodeOwnedEmbedding(b []byte) ([]float32, error) {
	if !littleEndian || len(b) == 0 || len(b)%4 != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 != 0 {
		return DecodeEmbedding(b)
	}
	v := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
	if i, bits, ok := firstNonFinite(v); !ok {
		return nil, nonFiniteError(i, bits)
	}
	return v, nil
}

// littleEndian is true when float32 values are laid out in memory as the
// embedding column stores them.
var littleEndian = func() bool {
	x := uint32(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// firstNonFinite returns the index and bits of the first NaN or ±Inf in
// v, and false; or true when every element is finite.
func firstNonFinite(v []float32) (int, uint32, bool) {
	for i, x := range v {
		if bits := math.Float32bits(x); !finite32(bits) {
			return i, bits, false
		}
	}
	return 0, 0, true
}

// float32 bit layout: sign 1 bit, exponent 8 bits, mantissa 23 bits.
const (
	f32Sign     = 1 << 31
	f32Exponent = 0xff << 23
	f32Mantissa = 1<<23 - 1
)

// finite32 reports whether the float32 with these bits is neither NaN nor
// ±Inf (both have an all-ones exponent).
func finite32(bits uint32) bool {
	return bits&f32Exponent != f32Exponent
}

// nonFiniteError describes element i, whose bits are NaN or ±Inf.
func nonFiniteError(i int, bits uint32) error {
	what := "NaN"
	switch {
	case bits&f32Mantissa != 0:
	case bits&f32Sign != 0:
		what = "-Inf"
	default:
		what = "+Inf"
	}
	return fmt.Errorf("embedding[%d] is %s", i, what)
}
