package client

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// sampleData returns n elements of datatype with edge values, as raw bytes.
func sampleData(datatype string, n int) []byte {
	le := binary.LittleEndian
	var out []byte
	for i := range n {
		switch datatype {
		case TypeBool:
			out = append(out, byte(i%2))
		case TypeUint8, TypeInt8:
			out = append(out, []byte{0, 1, 0x7f, 0x80, 0xff}[i%5])
		case TypeUint16, TypeInt16:
			out = le.AppendUint16(out, []uint16{0, 1, 0x7fff, 0x8000, 0xffff}[i%5])
		case TypeUint32, TypeInt32:
			out = le.AppendUint32(out, []uint32{0, 1, 0x7fffffff, 0x80000000, 0xffffffff}[i%5])
		case TypeUint64, TypeInt64:
			out = le.AppendUint64(out, []uint64{0, 1, math.MaxInt64, 1 << 63, math.MaxUint64}[i%5])
		case TypeFP16:
			out = le.AppendUint16(out, []uint16{0x0000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000}[i%6])
		case TypeBF16:
			out = le.AppendUint16(out, []uint16{0x0000, 0x3f80, 0xc000, 0x7f7f, 0x0001}[i%5])
		case TypeFP32:
			out = le.AppendUint32(out, math.Float32bits([]float32{0, 1.5, -2.25, math.MaxFloat32, math.SmallestNonzeroFloat32, 0.1}[i%6]))
		case TypeFP64:
			out = le.AppendUint64(out, math.Float64bits([]float64{0, 1.5, -2.25, math.MaxFloat64, math.SmallestNonzeroFloat64, 0.1}[i%6]))
		case TypeBytes:
			out = AppendBytesElement(out, []byte([]string{"", "a", "héllo", `quote"back\slash`, "<&>", strings.Repeat("x", 300)}[i%6]))
		}
	}
	return out
}

func TestCheckTensor(t *testing.T) {
	tests := []struct {
		name    string
		tensor  Tensor
		wantErr string
	}{
		{"fp32 ok", Tensor{Name: "x", Datatype: TypeFP32, Shape: []int64{2, 2}, Data: make([]byte, 16)}, ""},
		{"fp32 short", Tensor{Name: "x", Datatype: TypeFP32, Shape: []int64{2, 2}, Data: make([]byte, 15)}, "needs 16 bytes"},
		{"scalar", Tensor{Name: "x", Datatype: TypeInt64, Data: make([]byte, 8)}, ""},
		{"empty", Tensor{Name: "x", Datatype: TypeInt64, Shape: []int64{0}}, ""},
		{"no name", Tensor{Datatype: TypeInt64, Data: make([]byte, 8)}, "no name"},
		{"bad type", Tensor{Name: "x", Datatype: "FLOAT", Data: make([]byte, 8)}, "unknown datatype"},
		{"variable dim", Tensor{Name: "x", Datatype: TypeInt8, Shape: []int64{-1}}, "concrete"},
		{"bytes ok", Tensor{Name: "s", Datatype: TypeBytes, Shape: []int64{6}, Data: sampleData(TypeBytes, 6)}, ""},
		{"bytes count", Tensor{Name: "s", Datatype: TypeBytes, Shape: []int64{5}, Data: sampleData(TypeBytes, 6)}, "needs 5 BYTES elements"},
		{"bytes truncated", Tensor{Name: "s", Datatype: TypeBytes, Shape: []int64{1}, Data: []byte{5, 0, 0, 0, 'a'}}, "overruns"},
		{"overflow", Tensor{Name: "x", Datatype: TypeFP64, Shape: []int64{1 << 61}}, "needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTensor(&tt.tensor)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckTensor: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckTensor error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

// Every datatype survives raw -> JSON -> raw unchanged.
func TestJSONDataRoundTrip(t *testing.T) {
	for _, dt := range Datatypes() {
		t.Run(dt, func(t *testing.T) {
			raw := sampleData(dt, 12)
			js, err := appendJSONData(nil, dt, raw)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			back, n, err := decodeJSONData(dt, js)
			if err != nil {
				t.Fatalf("decode %s: %v", js, err)
			}
			if n != 12 || !bytes.Equal(back, raw) {
				t.Fatalf("round trip of %s: %d elements, %x, want 12 elements, %x", js, n, back, raw)
			}
		})
	}
}

func TestJSONDataEncode(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		dt   string
		raw  []byte
		want string
	}{
		{TypeBool, []byte{1, 0}, `[true,false]`},
		{TypeInt8, []byte{0xff, 0x7f}, `[-1,127]`},
		{TypeUint64, le.AppendUint64(nil, math.MaxUint64), `[18446744073709551615]`},
		{TypeInt64, le.AppendUint64(nil, 1<<63), `[-9223372036854775808]`},
		{TypeFP32, le.AppendUint32(nil, math.Float32bits(0.1)), `[0.1]`},
		{TypeFP64, le.AppendUint64(nil, math.Float64bits(0.1)), `[0.1]`},
		{TypeFP16, le.AppendUint16(nil, 0x3555), `[0.33325195]`},
		{TypeBF16, le.AppendUint16(nil, 0x3f80), `[1]`},
		{TypeBytes, AppendBytesElement(nil, []byte(`a"<`)), `["a\"<"]`},
		{TypeInt32, nil, `[]`},
	}
	for _, tt := range tests {
		got, err := appendJSONData(nil, tt.dt, tt.raw)
		if err != nil || string(got) != tt.want {
			t.Errorf("appendJSONData(%s, %x) = %s, %v; want %s", tt.dt, tt.raw, got, err, tt.want)
		}
	}
}

func TestJSONDataErrors(t *testing.T) {
	le := binary.LittleEndian
	enc := []struct {
		dt  string
		raw []byte
	}{
		{TypeFP32, le.AppendUint32(nil, math.Float32bits(float32(math.NaN())))},
		{TypeFP64, le.AppendUint64(nil, math.Float64bits(math.Inf(1)))},
		{TypeFP16, le.AppendUint16(nil, 0x7c00)},
		{TypeBytes, AppendBytesElement(nil, []byte{0xff, 0xfe})},
		{TypeInt32, []byte{1, 2, 3}},
		{"FLOAT", nil},
	}
	for _, tt := range enc {
		if got, err := appendJSONData(nil, tt.dt, tt.raw); err == nil {
			t.Errorf("appendJSONData(%s, %x) = %s, want an error", tt.dt, tt.raw, got)
		}
	}
	dec := []struct{ dt, js string }{
		{TypeUint8, `[256]`},
		{TypeInt8, `[-129]`},
		{TypeUint32, `[-1]`},
		{TypeInt32, `[1.5]`},
		{TypeBool, `[1]`},
		{TypeBytes, `[1]`},
		{TypeFP32, `["x"]`},
		{TypeFP32, `[1e39]`},
		{TypeFP32, `{"a":1}`},
		{TypeFP32, `[1,[2]`},
		{TypeFP32, `[null]`},
		{TypeFP32, `3`},
	}
	for _, tt := range dec {
		if got, _, err := decodeJSONData(tt.dt, []byte(tt.js)); err == nil {
			t.Errorf("decodeJSONData(%s, %s) = %x, want an error", tt.dt, tt.js, got)
		}
	}
}

func TestJSONDataNested(t *testing.T) {
	got, n, err := decodeJSONData(TypeInt16, []byte(`[[1,2],[3,[4]]]`))
	want := []byte{1, 0, 2, 0, 3, 0, 4, 0}
	if err != nil || n != 4 || !bytes.Equal(got, want) {
		t.Fatalf("nested decode = %x, %d, %v; want %x, 4", got, n, err, want)
	}
}

func FuzzDecodeJSONData(f *testing.F) {
	for _, dt := range Datatypes() {
		js, _ := appendJSONData(nil, dt, sampleData(dt, 7))
		f.Add(dt, string(js))
	}
	f.Add(TypeFP32, `[[1],[2e3],[-0.5]]`)
	f.Add(TypeBytes, `["\u00e9", ""]`)
	f.Add(TypeInt64, `[9223372036854775808]`)
	f.Fuzz(func(t *testing.T, dt, js string) {
		raw, n, err := decodeJSONData(dt, []byte(js))
		if err != nil {
			return
		}
		if err := CheckTensor(&Tensor{Name: "x", Datatype: dt, Shape: []int64{int64(n)}, Data: raw}); err != nil {
			t.Fatalf("%s %s: decoded %d elements inconsistently: %v", dt, js, n, err)
		}
		// What decodes re-encodes (unless it is a non-JSON float or
		// invalid UTF-8) and decodes to the same bytes.
		again, err := appendJSONData(nil, dt, raw)
		if err != nil {
			return
		}
		raw2, n2, err := decodeJSONData(dt, again)
		if err != nil || n2 != n || !bytes.Equal(raw2, raw) {
			t.Fatalf("%s %s: re-encoded %s decodes to %x (%d), %v; want %x (%d)", dt, js, again, raw2, n2, err, raw, n)
		}
	})
}

// The client's datatype names are package datatype's, and Datatypes lists
// each once.
func TestDatatypes(t *testing.T) {
	seen := map[datatype.Type]bool{}
	for _, name := range Datatypes() {
		dt, err := datatype.Parse(name)
		if err != nil || dt.String() != name || seen[dt] {
			t.Errorf("Datatypes() lists %q: parses as %v, %v; seen before %v", name, dt, err, seen[dt])
		}
		seen[dt] = true
	}
	if len(seen) != len(datatype.All()) {
		t.Errorf("Datatypes() lists %d types, package datatype %d", len(seen), len(datatype.All()))
	}
}
