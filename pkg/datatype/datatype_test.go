package datatype

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// edges are the bit patterns sample cycles through: extremes of every
// integer type, and finite floats from the largest to subnormals.
var edges = map[Type][]uint64{
	Bool:   {0, 1},
	Uint8:  {0, 1, 0x7f, 0x80, 0xff},
	Uint16: {0, 1, 0x7fff, 0x8000, 0xffff},
	Uint32: {0, 1, 0x7fffffff, 0x80000000, 0xffffffff},
	Uint64: {0, 1, math.MaxInt64, 1 << 63, math.MaxUint64},
	FP16:   {0x0000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x3555},
	BF16:   {0x0000, 0x3f80, 0xc000, 0x7f7f, 0x0001, 0xff7f},
	FP32: {0, uint64(math.Float32bits(1.5)), uint64(math.Float32bits(-2.25)), uint64(math.Float32bits(math.MaxFloat32)),
		uint64(math.Float32bits(math.SmallestNonzeroFloat32)), uint64(math.Float32bits(0.1)), 1 << 31},
	FP64: {0, math.Float64bits(1.5), math.Float64bits(-2.25), math.Float64bits(math.MaxFloat64),
		math.Float64bits(math.SmallestNonzeroFloat64), math.Float64bits(0.1), 1 << 63},
}

// sample returns n elements of t in the binary layout, with edge values.
func sample(t Type, n int) []byte {
	var out []byte
	if t == Bytes {
		strs := []string{"", "a", "héllo", `quote"back\slash`, "<&>", "\x00\n\u2028", strings.Repeat("x", 300)}
		for i := range n {
			out = AppendBytesElement(out, []byte(strs[i%len(strs)]))
		}
		return out
	}
	vals := edges[t]
	switch t {
	case Int8, Int16, Int32, Int64:
		vals = edges[t-Int8+Uint8] // the same bits, read as signed
	}
	for i := range n {
		out = binary.LittleEndian.AppendUint64(out, vals[i%len(vals)])[:len(out)+t.Size()]
	}
	return out
}

func TestTypes(t *testing.T) {
	tests := []struct {
		name   string
		t      Type
		size   int
		config inferencepb.DataType
	}{
		{"BOOL", Bool, 1, inferencepb.DataType_TYPE_BOOL},
		{"UINT8", Uint8, 1, inferencepb.DataType_TYPE_UINT8},
		{"UINT16", Uint16, 2, inferencepb.DataType_TYPE_UINT16},
		{"UINT32", Uint32, 4, inferencepb.DataType_TYPE_UINT32},
		{"UINT64", Uint64, 8, inferencepb.DataType_TYPE_UINT64},
		{"INT8", Int8, 1, inferencepb.DataType_TYPE_INT8},
		{"INT16", Int16, 2, inferencepb.DataType_TYPE_INT16},
		{"INT32", Int32, 4, inferencepb.DataType_TYPE_INT32},
		{"INT64", Int64, 8, inferencepb.DataType_TYPE_INT64},
		{"FP16", FP16, 2, inferencepb.DataType_TYPE_FP16},
		{"FP32", FP32, 4, inferencepb.DataType_TYPE_FP32},
		{"FP64", FP64, 8, inferencepb.DataType_TYPE_FP64},
		{"BYTES", Bytes, 0, inferencepb.DataType_TYPE_STRING},
		{"BF16", BF16, 2, inferencepb.DataType_TYPE_BF16},
	}
	if all := All(); len(all) != len(tests) {
		t.Fatalf("All() lists %d types, the table %d", len(all), len(tests))
	}
	for i, tt := range tests {
		got, err := Parse(tt.name)
		if err != nil || got != tt.t {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.name, got, err, tt.t)
		}
		if tt.t.String() != tt.name || tt.t.Size() != tt.size || tt.t.ConfigType() != tt.config || !tt.t.Valid() {
			t.Errorf("%s: String %q, Size %d, ConfigType %v, Valid %v; want %q, %d, %v, true",
				tt.name, tt.t.String(), tt.t.Size(), tt.t.ConfigType(), tt.t.Valid(), tt.name, tt.size, tt.config)
		}
		if All()[i] != tt.t {
			t.Errorf("All()[%d] = %v, want %v (enum order)", i, All()[i], tt.t)
		}
	}
	for _, bad := range []string{"", "fp32", "FLOAT", "INT128", "INVALID", "TYPE_FP32"} {
		if got, err := Parse(bad); err == nil || got != Invalid || !strings.Contains(err.Error(), "use one of") {
			t.Errorf("Parse(%q) = %v, %v; want Invalid and an error listing the types", bad, got, err)
		}
	}
	for _, bad := range []Type{Invalid, numTypes, 200} {
		if bad.Valid() || bad.Size() != 0 || bad.String() != "INVALID" || bad.ConfigType() != inferencepb.DataType_TYPE_INVALID {
			t.Errorf("Type(%d): Valid %v, Size %d, String %q, ConfigType %v; want an invalid type", uint8(bad), bad.Valid(), bad.Size(), bad.String(), bad.ConfigType())
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse("BF16") }); n != 0 {
		t.Errorf("Parse allocates %v times per call, want 0", n)
	}
}

func TestElementCount(t *testing.T) {
	tests := []struct {
		shape   []int64
		want    int64
		wantErr string
	}{
		{nil, 1, ""},
		{[]int64{}, 1, ""},
		{[]int64{0}, 0, ""},
		{[]int64{3, 0, 5}, 0, ""},
		{[]int64{2, 3, 4}, 24, ""},
		{[]int64{0, 1 << 62}, 0, ""},
		{[]int64{1 << 62, 0}, 0, ""},
		{[]int64{math.MaxInt64, 1}, math.MaxInt64, ""},
		{[]int64{-1, 4}, 0, "concrete"},
		{[]int64{0, -1}, 0, "negative dimension -1 at index 1"},
		{[]int64{1 << 62, 4}, 0, "overflows"},
		{[]int64{1 << 32, 1 << 32}, 0, "overflows"},
	}
	for _, tt := range tests {
		got, err := ElementCount(tt.shape)
		if (err != nil) != (tt.wantErr != "") || got != tt.want || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ElementCount(%v) = %d, %v; want %d, error %q", tt.shape, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCheckData(t *testing.T) {
	two := AppendBytesElement(AppendBytesElement(nil, []byte("ab")), nil)
	tests := []struct {
		name    string
		t       Type
		shape   []int64
		data    []byte
		wantErr []string
	}{
		{"fp32", FP32, []int64{2, 2}, make([]byte, 16), nil},
		{"fp32 short", FP32, []int64{2, 2}, make([]byte, 15), []string{"needs 16 bytes", "got 15 bytes"}},
		{"fp32 server wording", FP32, []int64{1, 2}, make([]byte, 4), []string{"4 bytes", "needs 8"}},
		{"scalar", Int64, nil, make([]byte, 8), nil},
		{"empty", Int64, []int64{0}, nil, nil},
		{"variable dim", Int8, []int64{-1}, nil, []string{"concrete"}},
		{"byte count overflows", FP64, []int64{1 << 61}, nil, []string{"needs more than"}},
		{"invalid type", Invalid, []int64{1}, []byte{1}, []string{"not valid"}},
		{"bytes", Bytes, []int64{6}, sample(Bytes, 6), nil},
		{"bytes none", Bytes, []int64{0}, nil, nil},
		{"bytes two", Bytes, []int64{2}, two, nil},
		{"bytes count", Bytes, []int64{5}, sample(Bytes, 6), []string{"needs 5 BYTES elements", "holds 6 elements"}},
		{"bytes count server wording", Bytes, []int64{3}, two, []string{"holds 2 elements"}},
		{"bytes short prefix", Bytes, []int64{1}, []byte{1, 0}, []string{"truncated"}},
		{"bytes overrun", Bytes, []int64{1}, []byte{5, 0, 0, 0, 'a'}, []string{"declares 5", "overruns"}},
		{"bytes huge length", Bytes, []int64{1}, []byte{0xff, 0xff, 0xff, 0xff}, []string{"declares 4294967295"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckData(tt.t, tt.shape, tt.data)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("CheckData: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckData accepted it; want an error mentioning %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckData error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBytesElements(t *testing.T) {
	tests := []struct {
		data    []byte
		want    int
		wantErr string
	}{
		{nil, 0, ""},
		{[]byte{0, 0, 0, 0}, 1, ""},
		{[]byte{1, 0, 0, 0, 'a', 0, 0, 0, 0}, 2, ""},
		{[]byte{1, 0, 0}, 0, "element 0 at offset 0 is truncated"},
		{[]byte{2, 0, 0, 0, 'a'}, 0, "declares 2 bytes, which overruns the 1 bytes left"},
		{[]byte{0xff, 0xff, 0xff, 0xff, 'a'}, 0, "declares 4294967295"},
		{[]byte{0, 0, 0, 0, 1}, 1, "element 1 at offset 4 is truncated"},
		{[]byte{1, 0, 0, 0, 'a', 3, 0, 0, 0, 'b'}, 1, "element 1 at offset 5 declares 3"},
	}
	for _, tt := range tests {
		got, err := BytesElements(tt.data)
		if got != tt.want || (err != nil) != (tt.wantErr != "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("BytesElements(%v) = %d, %v; want %d, error %q", tt.data, got, err, tt.want, tt.wantErr)
		}
	}
}

// FuzzBytesElements: the walker, the splitter and the appender agree, and a
// valid serialization re-serializes to itself.
func FuzzBytesElements(f *testing.F) {
	f.Add([]byte{})
	f.Add(sample(Bytes, 6))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2})
	f.Add([]byte{3, 0, 0, 0, 'a', 'b'})
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := BytesElements(data)
		var again []byte
		rest := data
		walked := 0
		for {
			elem, r, ok := NextBytesElement(rest)
			if !ok {
				break
			}
			again = AppendBytesElement(again, elem)
			rest = r
			walked++
		}
		if walked != n {
			t.Fatalf("%x: BytesElements counts %d, NextBytesElement walks %d", data, n, walked)
		}
		if (err == nil) != (len(rest) == 0) {
			t.Fatalf("%x: BytesElements error %v but %d bytes left unwalked", data, err, len(rest))
		}
		if !bytes.Equal(again, data[:len(data)-len(rest)]) {
			t.Fatalf("%x: re-serialized as %x", data, again)
		}
	})
}

// Every FP16 value converts to float32 exactly (checked against math) and
// back unchanged; NaNs stay NaN.
func TestFP16RoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		f := FP16ToFloat32(uint16(h))
		exp, mant := h>>10&0x1f, h&0x3ff
		var want float64
		switch {
		case exp == 0x1f && mant == 0:
			want = math.Inf(1)
		case exp == 0x1f:
			want = math.NaN()
		case exp == 0:
			want = math.Ldexp(float64(mant), -24)
		default:
			want = math.Ldexp(float64(mant|0x400), exp-25)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		back := Float32ToFP16(f)
		if math.IsNaN(want) {
			if f == f || back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x -> %v -> %#04x", h, f, back)
			}
			continue
		}
		if float64(f) != want || math.Signbit(float64(f)) != math.Signbit(want) {
			t.Fatalf("FP16ToFloat32(%#04x) = %v, want %v", h, f, want)
		}
		if back != uint16(h) {
			t.Fatalf("fp16 %#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestFloat32ToHalf(t *testing.T) {
	tests := []struct {
		f          float32
		fp16, bf16 uint16
	}{
		{0, 0, 0},
		{1, 0x3c00, 0x3f80},
		{-2, 0xc000, 0xc000},
		{65504, 0x7bff, 0x4780},
		{65520, 0x7c00, 0x4780}, // FP16: rounds up to Inf
		{float32(math.Inf(1)), 0x7c00, 0x7f80},
		{float32(math.Inf(-1)), 0xfc00, 0xff80},
		{5.960464477539063e-08, 0x0001, 0x3380},  // smallest FP16 subnormal
		{2.9802322387695312e-08, 0x0000, 0x3300}, // half of it: FP16 ties to even
		{1e10, 0x7c00, 0x5015},                   // overflows FP16
		{-1e10, 0xfc00, 0xd015},
		{1.0009765625, 0x3c01, 0x3f80},
		{1.00048828125, 0x3c00, 0x3f80}, // FP16 tie, even stays
		{1.00146484375, 0x3c02, 0x3f80}, // FP16 tie, odd rounds up
		{1.00390625, 0x3c04, 0x3f80},    // BF16 tie, even stays
		{1.01171875, 0x3c0c, 0x3f82},    // BF16 tie, odd rounds up
	}
	for _, tt := range tests {
		if got := Float32ToFP16(tt.f); got != tt.fp16 {
			t.Errorf("Float32ToFP16(%v) = %#04x, want %#04x", tt.f, got, tt.fp16)
		}
		if got := Float32ToBF16(tt.f); got != tt.bf16 {
			t.Errorf("Float32ToBF16(%v) = %#04x, want %#04x", tt.f, got, tt.bf16)
		}
	}
	nan := float32(math.NaN())
	if h := Float32ToFP16(nan); FP16ToFloat32(h) == FP16ToFloat32(h) {
		t.Errorf("FP16: NaN became %#04x, not a NaN", h)
	}
	if h := Float32ToBF16(nan); BF16ToFloat32(h) == BF16ToFloat32(h) {
		t.Errorf("BF16: NaN became %#04x, not a NaN", h)
	}
	// A NaN whose payload sits only in the low bits must not round to Inf.
	if h := Float32ToBF16(math.Float32frombits(0x7f800001)); BF16ToFloat32(h) == BF16ToFloat32(h) {
		t.Errorf("BF16: low-payload NaN became %#04x, not a NaN", h)
	}
}

func TestBF16RoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		f := BF16ToFloat32(uint16(h))
		if math.Float32bits(f) != uint32(h)<<16 {
			t.Fatalf("BF16ToFloat32(%#04x) has bits %#08x", h, math.Float32bits(f))
		}
		if f != f {
			continue
		}
		if back := Float32ToBF16(f); back != uint16(h) {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestContentsToRaw(t *testing.T) {
	le := binary.LittleEndian
	c := &inferencepb.InferTensorContents{
		BoolContents:   []bool{true, false},
		IntContents:    []int32{-1, 300},
		Int64Contents:  []int64{-2, 1 << 40},
		UintContents:   []uint32{255, 70000},
		Uint64Contents: []uint64{math.MaxUint64, 7},
		Fp32Contents:   []float32{1.5, -0.25},
		Fp64Contents:   []float64{0.1, -3},
		BytesContents:  [][]byte{[]byte("ab"), nil},
	}
	tests := []struct {
		t    Type
		want []byte
	}{
		{Bool, []byte{1, 0}},
		{Int8, []byte{0xff, 300 & 0xff}},
		{Int16, le.AppendUint16(le.AppendUint16(nil, 0xffff), 300)},
		{Int32, le.AppendUint32(le.AppendUint32(nil, 0xffffffff), 300)},
		{Int64, le.AppendUint64(le.AppendUint64(nil, math.MaxUint64-1), 1<<40)},
		{Uint8, []byte{255, 70000 & 0xff}},
		{Uint16, le.AppendUint16(le.AppendUint16(nil, 255), 70000&0xffff)},
		{Uint32, le.AppendUint32(le.AppendUint32(nil, 255), 70000)},
		{Uint64, le.AppendUint64(le.AppendUint64(nil, math.MaxUint64), 7)},
		{FP32, le.AppendUint32(le.AppendUint32(nil, math.Float32bits(1.5)), math.Float32bits(-0.25))},
		{FP64, le.AppendUint64(le.AppendUint64(nil, math.Float64bits(0.1)), math.Float64bits(-3))},
		{Bytes, AppendBytesElement(AppendBytesElement(nil, []byte("ab")), nil)},
	}
	for _, tt := range tests {
		for _, n := range []int64{2, -1} {
			got, err := ContentsToRaw(tt.t, c, n)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("ContentsToRaw(%s, n=%d) = %x, %v; want %x", tt.t, n, got, err, tt.want)
			}
		}
		if err := CheckData(tt.t, []int64{2}, tt.want); err != nil {
			t.Errorf("%s: the expected bytes fail CheckData: %v", tt.t, err)
		}
		if _, err := ContentsToRaw(tt.t, c, 3); err == nil || !strings.Contains(err.Error(), "has 2 elements but the shape needs 3") {
			t.Errorf("ContentsToRaw(%s, n=3): error %v, want a count mismatch", tt.t, err)
		}
	}
	if got, err := ContentsToRaw(FP32, &inferencepb.InferTensorContents{Fp32Contents: []float32{1}}, 2); err == nil || !strings.Contains(err.Error(), "fp32_contents has 1") {
		t.Errorf("short fp32_contents: %x, %v; want an error naming the field", got, err)
	}
	if got, err := ContentsToRaw(FP32, &inferencepb.InferTensorContents{}, 0); err != nil || got != nil {
		t.Errorf("no elements: %x, %v; want nil, nil", got, err)
	}
	if got, err := ContentsToRaw(Int32, nil, -1); err != nil || got != nil {
		t.Errorf("nil contents: %x, %v; want nil, nil", got, err)
	}
	for _, dt := range []Type{FP16, BF16, Invalid} {
		if _, err := ContentsToRaw(dt, c, -1); err == nil || !strings.Contains(err.Error(), "no typed contents") {
			t.Errorf("ContentsToRaw(%s): error %v, want no typed contents", dt, err)
		}
	}
}
