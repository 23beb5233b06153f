package resonance_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/resonance-graph/resonancedb/resonance"
)

// vecDim is the embedding size of the workloads (rule P).
const vecDim = 384

// float32 bit patterns that the tests need exactly.
const (
	bitsNegZero      = 0x80000000
	bitsMinDenormal  = 0x00000001
	bitsMaxDenormal  = 0x007fffff
	bitsNegDenormal  = 0x80000001
	bitsPosInf       = 0x7f800000
	bitsNegInf       = 0xff800000
	bitsQuietNaN     = 0x7fc00000
	bitsSignalingNaN = 0x7f800001
	bitsNegNaN       = 0xffc00000
)

// vecRandom returns n finite float32 values drawn from every bit
// pattern (so all exponents, denormals and both zeros occur), with -0, the
// smallest and largest denormals and ±MaxFloat32 at fixed positions.
func vecRandom(t testing.TB, n int) []float32 {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, n)
	for i := range v {
		for {
			x := math.Float32frombits(rng.Uint32())
			if !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) {
				v[i] = x
				break
			}
		}
	}
	special := []float32{
		0,
		math.Float32frombits(bitsNegZero),
		math.Float32frombits(bitsMinDenormal),
		math.Float32frombits(bitsMaxDenormal),
		math.Float32frombits(bitsNegDenormal),
		math.MaxFloat32,
		-math.MaxFloat32,
		math.SmallestNonzeroFloat32,
		1,
		-1,
	}
	if n < len(special) {
		t.Fatalf("vecRandom: n = %d, want at least %d", n, len(special))
	}
	copy(v, special)
	return v
}

// vecBits returns the IEEE 754 bits of each element, so that comparisons tell
// -0 from 0 and are exact.
func vecBits(v []float32) []uint32 {
	if v == nil {
		return nil
	}
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

// vecBlob returns the little-endian bytes of the given float32 bit patterns.
func vecBlob(bits ...uint32) []byte {
	b := make([]byte, 4*len(bits))
	for i, x := range bits {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

func vecNorm(v []float32) float64 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum)
}

func TestEncodeEmbedding_RoundTripsBitForBit(t *testing.T) {
	want := vecRandom(t, vecDim)
	blob, err := resonance.EncodeEmbedding(want)
	if err != nil {
		t.Fatalf("EncodeEmbedding: %v", err)
	}
	if len(blob) != 4*vecDim {
		t.Fatalf("EncodeEmbedding: %d bytes, want %d", len(blob), 4*vecDim)
	}
	got, err := resonance.DecodeEmbedding(blob)
	if err != nil {
		t.Fatalf("DecodeEmbedding: %v", err)
	}
	if diff := cmp.Diff(vecBits(want), vecBits(got)); diff != "" {
		t.Errorf("round trip mismatch in float32 bits (-want +got):\n%s", diff)
	}
}

func TestEncodeEmbedding_LittleEndianLayout(t *testing.T) {
	got, err := resonance.EncodeEmbedding([]float32{1, -2, math.Float32frombits(bitsNegZero)})
	if err != nil {
		t.Fatalf("EncodeEmbedding: %v", err)
	}
	want := []byte{
		0x00, 0x00, 0x80, 0x3f, // 1
		0x00, 0x00, 0x00, 0xc0, // -2
		0x00, 0x00, 0x00, 0x80, // -0
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EncodeEmbedding bytes (-want +got):\n%s", diff)
	}
}

func TestEncodeEmbedding_Empty(t *testing.T) {
	for _, v := range [][]float32{nil, {}} {
		got, err := resonance.EncodeEmbedding(v)
		if got != nil || err != nil {
			t.Errorf("EncodeEmbedding(%#v) = %#v, %v; want nil, nil", v, got, err)
		}
	}
}

func TestEncodeEmbedding_RejectsNonFinite(t *testing.T) {
	tests := []struct {
		name    string
		bits    uint32
		index   int
		wantErr string
	}{
		{"QuietNaN", bitsQuietNaN, 17, "embedding[17] is NaN"},
		{"SignalingNaN", bitsSignalingNaN, 0, "embedding[0] is NaN"},
		{"NegativeNaN", bitsNegNaN, 383, "embedding[383] is NaN"},
		{"PosInf", bitsPosInf, 3, "embedding[3] is +Inf"},
		{"NegInf", bitsNegInf, 200, "embedding[200] is -Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := vecRandom(t, vecDim)
			v[tt.index] = math.Float32frombits(tt.bits)
			got, err := resonance.EncodeEmbedding(v)
			if err == nil {
				t.Fatalf("EncodeEmbedding = %d bytes, nil; want error %q", len(got), tt.wantErr)
			}
			if got != nil {
				t.Errorf("EncodeEmbedding returned %d bytes with error %v; want nil", len(got), err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("EncodeEmbedding error = %q, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestEncodeEmbedding_NamesFirstNonFinite(t *testing.T) {
	v := make([]float32, 8)
	v[5] = float32(math.Inf(-1))
	v[2] = float32(math.NaN())
	_, err := resonance.EncodeEmbedding(v)
	if want := "embedding[2] is NaN"; err == nil || err.Error() != want {
		t.Errorf("EncodeEmbedding error = %v, want %q", err, want)
	}
}

func TestDecodeEmbedding_Empty(t *testing.T) {
	for _, b := range [][]byte{nil, {}} {
		got, err := resonance.DecodeEmbedding(b)
		if got != nil || err != nil {
			t.Errorf("DecodeEmbedding(%#v) = %#v, %v; want nil, nil", b, got, err)
		}
	}
}

func TestDecodeEmbedding_RejectsBadLength(t *testing.T) {
	tests := []struct {
		n       int
		wantErr string
	}{
		{1, "embedding blob is 1 bytes, not a multiple of 4"},
		{3, "embedding blob is 3 bytes, not a multiple of 4"},
		{5, "embedding blob is 5 bytes, not a multiple of 4"},
		{10, "embedding blob is 10 bytes, not a multiple of 4"},
		{4*vecDim - 1, "embedding blob is 1535 bytes, not a multiple of 4"},
	}
	for _, tt := range tests {
		got, err := resonance.DecodeEmbedding(make([]byte, tt.n))
		if err == nil {
			t.Errorf("DecodeEmbedding(%d bytes) = %d floats, nil; want error %q", tt.n, len(got), tt.wantErr)
			continue
		}
		if err.Error() != tt.wantErr {
			t.Errorf("DecodeEmbedding(%d bytes) error = %q, want %q", tt.n, err, tt.wantErr)
		}
		if got != nil {
			t.Errorf("DecodeEmbedding(%d bytes) returned %d floats with an error; want nil", tt.n, len(got))
		}
	}
}

func TestDecodeEmbedding_RejectsNonFinite(t *testing.T) {
	tests := []struct {
		name    string
		bits    uint32
		wantErr string
	}{
		{"QuietNaN", bitsQuietNaN, "embedding[3] is NaN"},
		{"SignalingNaN", bitsSignalingNaN, "embedding[3] is NaN"},
		{"NegativeNaN", bitsNegNaN, "embedding[3] is NaN"},
		{"PosInf", bitsPosInf, "embedding[3] is +Inf"},
		{"NegInf", bitsNegInf, "embedding[3] is -Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob := vecBlob(0x3f800000, bitsNegZero, bitsMinDenormal, tt.bits, 0x3f800000)
			got, err := resonance.DecodeEmbedding(blob)
			if err == nil {
				t.Fatalf("DecodeEmbedding = %v, nil; want error %q", got, tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("DecodeEmbedding error = %q, want %q", err, tt.wantErr)
			}
			if got != nil {
				t.Errorf("DecodeEmbedding returned %v with an error; want nil", got)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	approx := cmpopts.EquateApprox(0, 1e-6)
	tests := []struct {
		name string
		in   []float32
		want []float32
	}{
		{"Nil", nil, nil},
		{"Empty", []float32{}, nil},
		{"ThreeFour", []float32{3, 4}, []float32{0.6, 0.8}},
		{"Negative", []float32{0, -2, 0}, []float32{0, -1, 0}},
		{"Zero", make([]float32, vecDim), make([]float32, vecDim)},
		{"NegativeZero", []float32{math.Float32frombits(bitsNegZero)}, []float32{0}},
		{"Denormals", []float32{math.SmallestNonzeroFloat32, math.SmallestNonzeroFloat32}, []float32{math.Sqrt2 / 2, math.Sqrt2 / 2}},
		{"Huge", []float32{math.MaxFloat32, math.MaxFloat32}, []float32{math.Sqrt2 / 2, math.Sqrt2 / 2}},
		{"NaN", []float32{1, float32(math.NaN()), 2}, []float32{0, 0, 0}},
		{"PosInf", []float32{1, float32(math.Inf(1))}, []float32{0, 0}},
		{"NegInf", []float32{float32(math.Inf(-1)), 1}, []float32{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resonance.Normalize(tt.in)
			if diff := cmp.Diff(tt.want, got, approx); diff != "" {
				t.Errorf("Normalize(%v) mismatch (-want +got):\n%s", tt.in, diff)
			}
			for i, x := range got {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Errorf("Normalize(%v)[%d] = %v, want finite", tt.in, i, x)
				}
			}
		})
	}
}

func TestNormalize_UnitNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, scale := range []float64{1e-30, 1e-3, 1, 1e3, 1e30} {
		v := make([]float32, vecDim)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
		got := resonance.Normalize(v)
		if n := vecNorm(got); math.Abs(n-1) > 1e-6 {
			t.Errorf("norm(Normalize(v)) with scale %g = %.9f, want 1 ± 1e-6", scale, n)
		}
	}
	// Every finite bit pattern, denormals and ±MaxFloat32 included.
	if n := vecNorm(resonance.Normalize(vecRandom(t, vecDim))); math.Abs(n-1) > 1e-6 {
		t.Errorf("norm(Normalize(vecRandom)) = %.9f, want 1 ± 1e-6", n)
	}
}

func TestNormalize_ReturnsNewSlice(t *testing.T) {
	in := []float32{3, 4}
	got := resonance.Normalize(in)
	got[0] = 42
	if diff := cmp.Diff([]float32{3, 4}, in); diff != "" {
		t.Errorf("Normalize modified its input (-want +got):\n%s", diff)
	}
	zero := make([]float32, 3)
	got = resonance.Normalize(zero)
	got[0] = 42
	if zero[0] != 0 {
		t.Errorf("Normalize of a zero vector returned its input, not a new slice")
	}
}

func FuzzDecodeEmbedding(f *testing.F) {
	valid, err := resonance.EncodeEmbedding(vecRandom(f, 16))
	if err != nil {
		f.Fatalf("EncodeEmbedding: %v", err)
	}
	for _, seed := range [][]byte{
		nil,
		{0},
		{1, 2, 3},
		{1, 2, 3, 4, 5},
		vecBlob(0x3f800000),
		vecBlob(bitsNegZero, bitsMinDenormal, bitsMaxDenormal),
		vecBlob(bitsQuietNaN),
		vecBlob(0, bitsPosInf),
		vecBlob(bitsNegInf, 0),
		vecBlob(bitsSignalingNaN, bitsNegNaN),
		valid,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := resonance.DecodeEmbedding(in)
		if err != nil {
			if out != nil {
				t.Fatalf("DecodeEmbedding(%x) = %v, %v: values returned with an error", in, out, err)
			}
			return
		}
		if len(out)*4 != len(in) {
			t.Fatalf("DecodeEmbedding(%x): %d floats from %d bytes", in, len(out), len(in))
		}
		again, err := resonance.EncodeEmbedding(out)
		if err != nil {
			t.Fatalf("EncodeEmbedding(DecodeEmbedding(%x)): %v", in, err)
		}
		if !bytes.Equal(again, in) {
			t.Fatalf("EncodeEmbedding(DecodeEmbedding(%x)) = %x", in, again)
		}
	})
}

func BenchmarkEncodeEmbedding384(b *testing.B) {
	v := resonance.Normalize(vecRandom(b, vecDim))
	b.SetBytes(4 * vecDim)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := resonance.EncodeEmbedding(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEmbedding384(b *testing.B) {
	blob, err := resonance.EncodeEmbedding(resonance.Normalize(vecRandom(b, vecDim)))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(4 * vecDim)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := resonance.DecodeEmbedding(blob); err != nil {
			b.Fatal(err)
		}
	}
}
