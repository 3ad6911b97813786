package datatype

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// Every datatype survives binary -> JSON -> binary unchanged, strict and
// lenient alike.
func TestJSONRoundTrip(t *testing.T) {
	for _, dt := range All() {
		t.Run(dt.String(), func(t *testing.T) {
			raw := sample(dt, 12)
			js, err := AppendJSON(nil, dt, raw)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if lenient := AppendJSONLenient(nil, dt, raw); !bytes.Equal(lenient, js) {
				t.Fatalf("lenient encoding %s differs from strict %s", lenient, js)
			}
			for _, n := range []int64{12, -1} {
				back, count, err := DecodeJSON(dt, js, n)
				if err != nil || count != 12 || !bytes.Equal(back, raw) {
					t.Fatalf("DecodeJSON(%s, n=%d) = %x, %d, %v; want %x, 12", js, n, back, count, err, raw)
				}
			}
		})
	}
}

func TestAppendJSON(t *testing.T) {
	le := binary.LittleEndian
	nan32 := le.AppendUint32(nil, math.Float32bits(float32(math.NaN())))
	tests := []struct {
		dt      Type
		raw     []byte
		want    string // from both encoders
		lenient string // from AppendJSONLenient where AppendJSON fails
		wantErr string // from AppendJSON
	}{
		{dt: Bool, raw: []byte{1, 0, 2}, want: `[true,false,true]`},
		{dt: Int8, raw: []byte{0xff, 0x7f}, want: `[-1,127]`},
		{dt: Uint64, raw: le.AppendUint64(nil, math.MaxUint64), want: `[18446744073709551615]`},
		{dt: Int64, raw: le.AppendUint64(nil, 1<<63), want: `[-9223372036854775808]`},
		{dt: FP32, raw: le.AppendUint32(nil, math.Float32bits(0.1)), want: `[0.1]`},
		{dt: FP64, raw: le.AppendUint64(nil, math.Float64bits(0.1)), want: `[0.1]`},
		{dt: FP64, raw: le.AppendUint64(nil, math.Float64bits(math.Copysign(0, -1))), want: `[-0]`},
		{dt: FP16, raw: le.AppendUint16(nil, 0x3555), want: `[0.33325195]`},
		{dt: BF16, raw: le.AppendUint16(nil, 0x3f80), want: `[1]`},
		{dt: Bytes, raw: AppendBytesElement(nil, []byte(`a"<`)), want: `["a\"<"]`},
		{dt: Bytes, raw: AppendBytesElement(nil, []byte("\x00\t\n\r\x1f\\ é")), want: `["\u0000\t\n\r\u001f\\ é"]`},
		{dt: Int32, raw: nil, want: `[]`},
		{dt: Bytes, raw: nil, want: `[]`},
		{dt: FP32, raw: nan32, lenient: `["NaN"]`, wantErr: "FP32 element 0 is NaN"},
		{dt: FP64, raw: le.AppendUint64(le.AppendUint64(nil, 0), math.Float64bits(math.Inf(1))), lenient: `[0,"Infinity"]`, wantErr: "element 1 is +Inf"},
		{dt: FP16, raw: le.AppendUint16(nil, 0xfc00), lenient: `["-Infinity"]`, wantErr: "JSON cannot carry"},
		{dt: BF16, raw: le.AppendUint16(nil, 0x7fc0), lenient: `["NaN"]`, wantErr: "binary tensor format"},
		{dt: Bytes, raw: AppendBytesElement(AppendBytesElement(nil, []byte("ok")), []byte{'a', 0xff, 0xfe}), lenient: `["ok","a\ufffd\ufffd"]`, wantErr: "BYTES element 1 is not valid UTF-8"},
		{dt: Int32, raw: []byte{1, 0, 0, 0, 2, 3}, lenient: `[1]`, wantErr: "not a whole number of 4-byte elements"},
		{dt: Bytes, raw: append(AppendBytesElement(nil, []byte("x")), 9, 0, 0, 0, 'y'), lenient: `["x"]`, wantErr: "declares 9 bytes"},
		{dt: Invalid, raw: []byte{1}, lenient: `[]`, wantErr: "not valid"},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s %x", tt.dt, tt.raw)
		got, err := AppendJSON([]byte("prefix"), tt.dt, tt.raw)
		lenient := AppendJSONLenient([]byte("prefix"), tt.dt, tt.raw)
		if tt.wantErr == "" {
			if err != nil || string(got) != "prefix"+tt.want || string(lenient) != "prefix"+tt.want {
				t.Errorf("%s: AppendJSON = %s, %v; AppendJSONLenient = %s; want %s", name, got, err, lenient, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: AppendJSON = %s, %v; want an error mentioning %q", name, got, err, tt.wantErr)
		}
		if want := "prefix" + tt.lenient; string(lenient) != want {
			t.Errorf("%s: AppendJSONLenient = %s, want %s", name, lenient, want)
		}
		if !json.Valid(lenient[len("prefix"):]) {
			t.Errorf("%s: AppendJSONLenient wrote invalid JSON %s", name, lenient)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "\x00\x1f\n\r\t", "héllo ☃", "bad \xff utf8", "<&>", "\xe2\x82", "\u2028"} {
		for _, out := range [][]byte{AppendJSONString(nil, s), AppendJSONString(nil, []byte(s))} {
			var back string
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatalf("%q encodes to invalid JSON %s: %v", s, out, err)
			}
			ref, _ := json.Marshal(s) // encoding/json also turns each bad byte into U+FFFD
			var want string
			if err := json.Unmarshal(ref, &want); err != nil {
				t.Fatal(err)
			}
			if back != want {
				t.Errorf("%q round-trips to %q, want %q", s, back, want)
			}
		}
	}
	if got := string(AppendJSONString(nil, "<&>")); got != `"<&>"` {
		t.Errorf("AppendJSONString escapes HTML: %s", got)
	}
}

// FuzzAppendJSONString checks the string encoder against encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	f.Add("héllo \"q\" \x00 \xff")
	f.Add("\xe2\x82\xac\xe2\x82")
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendJSONString(nil, []byte(s))
		if str := AppendJSONString(nil, s); !bytes.Equal(str, out) {
			t.Fatalf("%q: string form %s, []byte form %s", s, str, out)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("invalid JSON %s: %v", out, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if back != want {
			t.Fatalf("%q round-trips to %q, encoding/json gives %q", s, back, want)
		}
	})
}

// FuzzAppendJSON: what the strict encoder accepts decodes back to the same
// bytes; the lenient encoder always writes valid JSON.
func FuzzAppendJSON(f *testing.F) {
	for _, dt := range All() {
		f.Add(uint8(dt), sample(dt, 5))
	}
	f.Add(uint8(FP32), binary.LittleEndian.AppendUint32(nil, 0x7fc00000))
	f.Add(uint8(Bytes), []byte{1, 0, 0, 0, 0xff})
	f.Add(uint8(Invalid), []byte{1})
	f.Add(uint8(Bool), []byte{0x30, 0, 1})
	f.Fuzz(func(t *testing.T, dt uint8, data []byte) {
		typ := Type(dt % uint8(numTypes))
		lenient := AppendJSONLenient(nil, typ, data)
		if !json.Valid(lenient) {
			t.Fatalf("%s %x: lenient encoding %s is not valid JSON", typ, data, lenient)
		}
		js, err := AppendJSON(nil, typ, data)
		if err != nil {
			return
		}
		if !bytes.Equal(js, lenient) {
			t.Fatalf("%s %x: strict %s, lenient %s", typ, data, js, lenient)
		}
		want := data
		if typ == Bool { // any non-zero byte is true, and true decodes to 1
			want = make([]byte, len(data))
			for i, b := range data {
				want[i] = min(b, 1)
			}
		}
		back, _, err := DecodeJSON(typ, js, -1)
		if err != nil || !bytes.Equal(back, want) && !(len(back) == 0 && len(want) == 0) {
			t.Fatalf("%s %x: %s decodes to %x, %v", typ, data, js, back, err)
		}
	})
}

func TestDecodeJSON(t *testing.T) {
	le := binary.LittleEndian
	inf32 := le.AppendUint32(nil, math.Float32bits(float32(math.Inf(1))))
	tests := []struct {
		name    string
		raw     string
		dt      Type
		n       int64
		want    []byte
		wantErr string // from both decoders
		strict  string // from DecodeJSON only; DecodeJSONLenient gives want
	}{
		{name: "flat int32", raw: `[1,-2,3]`, dt: Int32, n: 3, want: le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 1), 0xfffffffe), 3)},
		{name: "nested", raw: `[[1,2],[3,4]]`, dt: Uint8, n: 4, want: []byte{1, 2, 3, 4}},
		{name: "deeply nested", raw: `[[1,2],[3,[4]]]`, dt: Int16, n: 4, want: []byte{1, 0, 2, 0, 3, 0, 4, 0}},
		{name: "whitespace", raw: " [ 1 ,\n 2 ] ", dt: Int8, n: 2, want: []byte{1, 2}},
		{name: "empty", raw: `[]`, dt: FP32, n: 0, want: []byte{}},
		{name: "empty nested", raw: `[[],[]]`, dt: Bytes, n: 0, want: []byte{}},
		{name: "bool", raw: `[true,false]`, dt: Bool, n: 2, want: []byte{1, 0}},
		{name: "bytes with escapes", raw: `["a\"b","\u00e9",""]`, dt: Bytes, n: 3, want: AppendBytesElement(AppendBytesElement(AppendBytesElement(nil, []byte(`a"b`)), []byte("é")), nil)},
		{name: "bytes kept as sent", raw: `["a` + "\xff" + `"]`, dt: Bytes, n: 1, want: AppendBytesElement(nil, []byte("a\xff"))},
		{name: "fp32 exponent", raw: `[1e2]`, dt: FP32, n: 1, want: le.AppendUint32(nil, math.Float32bits(100))},
		{name: "fp16 from float", raw: `[0.33325195, -2]`, dt: FP16, n: 2, want: le.AppendUint16(le.AppendUint16(nil, 0x3555), 0xc000)},
		{name: "bf16 rounds", raw: `[1.01171875]`, dt: BF16, n: 1, want: le.AppendUint16(nil, 0x3f82)},
		{name: "int64 extremes", raw: `[-9223372036854775808, 9223372036854775807]`, dt: Int64, n: 2, want: le.AppendUint64(le.AppendUint64(nil, 1<<63), math.MaxInt64)},
		{name: "fp32 overflow", raw: `[1e40]`, dt: FP32, n: 1, want: inf32, strict: "out of the range of FP32"},
		{name: "fp32 overflow client case", raw: `[1e39]`, dt: FP32, n: -1, want: inf32, strict: "out of the range"},
		{name: "fp16 overflow", raw: `[1e400]`, dt: FP16, n: 1, want: le.AppendUint16(nil, 0x7c00), strict: "out of the range of FP16"},
		{name: "fp64 overflow", raw: `[-1e400]`, dt: FP64, n: 1, want: le.AppendUint64(nil, math.Float64bits(math.Inf(-1))), strict: "out of the range of FP64"},
		{name: "too few", raw: `[1]`, dt: Int32, n: 2, wantErr: "1 elements but the shape needs 2"},
		{name: "too many", raw: `[1,2,3]`, dt: Int32, n: 2, wantErr: "more than the 2"},
		{name: "not an array", raw: `5`, dt: Int32, n: 1, wantErr: "must be a JSON array"},
		{name: "object", raw: `{"a":1}`, dt: FP32, n: -1, wantErr: "must be a JSON array"},
		{name: "object element", raw: `[{"a":1}]`, dt: FP32, n: -1, wantErr: "element 0 is an object"},
		{name: "null", raw: `null`, dt: Int32, n: 1, wantErr: "no data"},
		{name: "missing", raw: ``, dt: Int32, n: 1, wantErr: "no data"},
		{name: "null element", raw: `[null]`, dt: FP32, n: -1, wantErr: "element 0"},
		{name: "float for int", raw: `[1.5]`, dt: Int32, n: 1, wantErr: "not an INT32"},
		{name: "negative for uint", raw: `[-1]`, dt: Uint16, n: 1, wantErr: "not a UINT16"},
		{name: "uint32 negative", raw: `[-1]`, dt: Uint32, n: -1, wantErr: "not a UINT32"},
		{name: "uint8 overflow", raw: `[256]`, dt: Uint8, n: 1, wantErr: "not a UINT8"},
		{name: "int8 underflow", raw: `[-129]`, dt: Int8, n: -1, wantErr: "not an INT8"},
		{name: "string for number", raw: `["1"]`, dt: FP64, n: 1, wantErr: "not a number"},
		{name: "string for fp32", raw: `["x"]`, dt: FP32, n: -1, wantErr: "not a number"},
		{name: "number for bytes", raw: `[1]`, dt: Bytes, n: 1, wantErr: "must be JSON strings"},
		{name: "number for bool", raw: `[1]`, dt: Bool, n: 1, wantErr: "true or false"},
		{name: "unbalanced", raw: `[1]]`, dt: Int32, n: 1, wantErr: "unbalanced"},
		{name: "unclosed", raw: `[[1]`, dt: Int32, n: 1, wantErr: "unclosed"},
		{name: "unclosed any count", raw: `[1,[2]`, dt: FP32, n: -1, wantErr: "unclosed"},
		{name: "trailing", raw: `[1] 2`, dt: Int32, n: 1, wantErr: "after its closing"},
		{name: "unterminated string", raw: `["abc`, dt: Bytes, n: 1, wantErr: "unterminated"},
		{name: "bad escape", raw: `["\x"]`, dt: Bytes, n: 1, wantErr: "bad JSON string"},
		{name: "shape larger than data could be", raw: `[1]`, dt: Int32, n: 1 << 30, wantErr: `"data" has 1 elements but the shape needs 1073741824`},
		{name: "invalid type", raw: `[1]`, dt: Invalid, n: 1, wantErr: "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, lenient := range []bool{false, true} {
				dec, wantErr := DecodeJSON, tt.wantErr
				if lenient {
					dec = DecodeJSONLenient
				} else if tt.strict != "" {
					wantErr = tt.strict
				}
				got, n, err := dec(tt.dt, []byte(tt.raw), tt.n)
				if wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), wantErr) {
						t.Fatalf("lenient %v: err = %v, want one containing %q", lenient, err, wantErr)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, tt.want) || tt.n >= 0 && n != tt.n {
					t.Fatalf("lenient %v: got %x, %d elements, %v; want %x", lenient, got, n, err, tt.want)
				}
			}
		})
	}
}

// refDecode is an independent decoder built on encoding/json's tokenizer,
// for FuzzDecodeJSON to compare DecodeJSON with on valid JSON.
func refDecode(t Type, raw []byte, n int64, lenient bool) ([]byte, int64, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out []byte
	var count int64
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '[':
				depth++
			case ']':
				depth--
			default:
				return nil, 0, errors.New("object")
			}
			continue
		}
		if depth == 0 {
			return nil, 0, errors.New("not an array")
		}
		le := binary.LittleEndian
		switch v := tok.(type) {
		case string:
			if t != Bytes {
				return nil, 0, errors.New("string")
			}
			out = AppendBytesElement(out, []byte(v))
		case bool:
			if t != Bool {
				return nil, 0, errors.New("bool")
			}
			out = append(out, 0)
			if v {
				out[len(out)-1] = 1
			}
		case json.Number:
			s := string(v)
			switch t {
			case Uint8, Uint16, Uint32, Uint64:
				u, err := strconv.ParseUint(s, 10, t.Size()*8)
				if err != nil {
					return nil, 0, err
				}
				out = le.AppendUint64(out, u)[:len(out)+t.Size()]
			case Int8, Int16, Int32, Int64:
				i, err := strconv.ParseInt(s, 10, t.Size()*8)
				if err != nil {
					return nil, 0, err
				}
				out = le.AppendUint64(out, uint64(i))[:len(out)+t.Size()]
			case FP16, BF16, FP32, FP64:
				bits := 32
				if t == FP64 {
					bits = 64
				}
				f, err := strconv.ParseFloat(s, bits)
				if err != nil && !(lenient && errors.Is(err, strconv.ErrRange)) {
					return nil, 0, err
				}
				switch t {
				case FP16:
					out = le.AppendUint16(out, Float32ToFP16(float32(f)))
				case BF16:
					out = le.AppendUint16(out, Float32ToBF16(float32(f)))
				case FP32:
					out = le.AppendUint32(out, math.Float32bits(float32(f)))
				default:
					out = le.AppendUint64(out, math.Float64bits(f))
				}
			default:
				return nil, 0, errors.New("number")
			}
		default:
			return nil, 0, errors.New("null")
		}
		count++
	}
	if n >= 0 && count != n {
		return nil, 0, errors.New("count")
	}
	return out, count, nil
}

// FuzzDecodeJSON: on any input DecodeJSON does not panic and what it
// returns is consistent; on valid JSON (and valid UTF-8, which encoding/json
// would replace) it agrees with refDecode; what it decodes re-encodes to
// JSON that decodes to the same bytes.
func FuzzDecodeJSON(f *testing.F) {
	for _, dt := range All() {
		js, _ := AppendJSON(nil, dt, sample(dt, 7))
		f.Add(uint8(dt), js, int64(7), false)
	}
	f.Add(uint8(Int32), []byte(`[1,2,[3]]`), int64(3), false)
	f.Add(uint8(Bytes), []byte(`["a\"",""]`), int64(2), true)
	f.Add(uint8(Bytes), []byte(`["\u00e9", ""]`), int64(-1), false)
	f.Add(uint8(Bool), []byte(`[true]`), int64(1), false)
	f.Add(uint8(FP16), []byte(`[1e400]`), int64(1), true)
	f.Add(uint8(FP32), []byte(`[[1],[2e3],[-0.5]]`), int64(-1), false)
	f.Add(uint8(Int64), []byte(`[9223372036854775808]`), int64(-1), false)
	f.Add(uint8(FP64), []byte(`[`), int64(0), false)
	f.Add(uint8(FP32), []byte(`[{"a":[1]}]`), int64(-1), false)
	f.Fuzz(func(t *testing.T, dt uint8, raw []byte, n int64, lenient bool) {
		typ := Type(dt % uint8(numTypes))
		dec := DecodeJSON
		if lenient {
			dec = DecodeJSONLenient
		}
		out, count, err := dec(typ, raw, n)
		if json.Valid(raw) && utf8.Valid(raw) && typ.Valid() {
			ref, refCount, refErr := refDecode(typ, raw, n, lenient)
			if (err == nil) != (refErr == nil) || err == nil && (count != refCount || !bytes.Equal(out, ref)) {
				t.Fatalf("%s %s (n=%d, lenient %v): DecodeJSON %x, %d, %v; reference %x, %d, %v", typ, raw, n, lenient, out, count, err, ref, refCount, refErr)
			}
		}
		if err != nil {
			return
		}
		if n >= 0 && count != n {
			t.Fatalf("%s %s: %d elements, want %d", typ, raw, count, n)
		}
		if err := CheckData(typ, []int64{count}, out); err != nil {
			t.Fatalf("%s %s: decoded %d elements but the bytes are inconsistent: %v", typ, raw, count, err)
		}
		again, err := AppendJSON(nil, typ, out)
		if err != nil {
			return // a non-JSON float or invalid UTF-8
		}
		out2, count2, err := DecodeJSON(typ, again, count)
		if err != nil || count2 != count || !bytes.Equal(out2, out) {
			t.Fatalf("%s %s: re-encoded %s decodes to %x (%d), %v; want %x (%d)", typ, raw, again, out2, count2, err, out, count)
		}
	})
}

// FP16 and BF16 round to nearest even from the decimal text, not through
// float32 (which rounds twice) nor float64 alone (which can land on a tie).
func TestHalfRounding(t *testing.T) {
	tests := []struct {
		dt, num string
		want    uint16
		wantErr string
	}{
		{"FP16", "1.00048828125", 0x3c00, ""},                // tie: to even (down)
		{"FP16", "1.00146484375", 0x3c02, ""},                // tie: to even (up)
		{"FP16", "1.00048828125000000000000001", 0x3c01, ""}, // past the tie by less than float64 can see
		{"FP16", "1.00048828124999999999999999", 0x3c00, ""},
		{"FP16", "1.0004882812500002", 0x3c01, ""},
		{"FP16", "65504", 0x7bff, ""},
		{"FP16", "65519.99", 0x7bff, ""},
		{"FP16", "65520", 0, "out of the range of FP16"},
		{"FP16", "6e-8", 0x0001, ""}, // subnormal
		{"FP16", "2e-8", 0x0000, ""},
		{"FP16", "-0", 0x8000, ""},
		{"BF16", "1.00390625", 0x3f80, ""},
		{"BF16", "1.00390625000000000000000001", 0x3f81, ""},
		{"BF16", "1.01171875", 0x3f82, ""}, // tie: to even (up)
		{"BF16", "1e39", 0, "out of the range of BF16"},
		{"FP16", `"1"`, 0, "not a number"},
	}
	for _, tt := range tests {
		dt, _ := Parse(tt.dt)
		got, _, err := DecodeJSON(dt, []byte("["+tt.num+"]"), 1)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s %s: err = %v, want %q", tt.dt, tt.num, err, tt.wantErr)
			}
			continue
		}
		if err != nil || binary.LittleEndian.Uint16(got) != tt.want {
			t.Errorf("%s %s = %x, %v; want %#04x", tt.dt, tt.num, got, err, tt.want)
		}
	}
}
