package client

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
)

// v2 datatype names.
const (
	TypeBool   = "BOOL"
	TypeUint8  = "UINT8"
	TypeUint16 = "UINT16"
	TypeUint32 = "UINT32"
	TypeUint64 = "UINT64"
	TypeInt8   = "INT8"
	TypeInt16  = "INT16"
	TypeInt32  = "INT32"
	TypeInt64  = "INT64"
	TypeFP16   = "FP16"
	TypeBF16   = "BF16"
	TypeFP32   = "FP32"
	TypeFP64   = "FP64"
	TypeBytes  = "BYTES"
)

// Datatypes lists every v2 datatype this package encodes and decodes.
func Datatypes() []string {
	return []string{TypeBool, TypeUint8, TypeUint16, TypeUint32, TypeUint64, TypeInt8,
		TypeInt16, TypeInt32, TypeInt64, TypeFP16, TypeBF16, TypeFP32, TypeFP64, TypeBytes}
}

// ElementSize returns the size in bytes of one element of datatype; BYTES
// elements have no fixed size and report 0.
func ElementSize(datatype string) (int, error) {
	switch datatype {
	case TypeBool, TypeUint8, TypeInt8:
		return 1, nil
	case TypeUint16, TypeInt16, TypeFP16, TypeBF16:
		return 2, nil
	case TypeUint32, TypeInt32, TypeFP32:
		return 4, nil
	case TypeUint64, TypeInt64, TypeFP64:
		return 8, nil
	case TypeBytes:
		return 0, nil
	}
	return 0, fmt.Errorf("unknown datatype %q: use one of BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, FP64, BYTES", datatype)
}

// ElementCount returns the number of elements of a tensor of this shape.
// A request shape must be concrete: a negative dimension is an error.
func ElementCount(shape []int64) (int64, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v: dimension %d is %d; a request needs concrete non-negative dimensions", shape, i, d)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v: element count overflows int64", shape)
		}
		n *= d
	}
	return n, nil
}

// CheckTensor reports whether t's Data matches its datatype and shape.
func CheckTensor(t *Tensor) error {
	if t.Name == "" {
		return errors.New("tensor has no name")
	}
	size, err := ElementSize(t.Datatype)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	count, err := ElementCount(t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if size == 0 {
		n, err := BytesElements(t.Data)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if int64(n) != count {
			return fmt.Errorf("tensor %q: shape %v needs %d BYTES elements, data holds %d", t.Name, t.Shape, count, n)
		}
		return nil
	}
	if count > math.MaxInt64/int64(size) || int64(len(t.Data)) != count*int64(size) {
		return fmt.Errorf("tensor %q: %s shape %v needs %d bytes of data, got %d", t.Name, t.Datatype, t.Shape, count*int64(size), len(t.Data))
	}
	return nil
}

// BytesElements walks serialized BYTES data (each element a 4-byte
// little-endian length then the bytes) and returns the element count.
func BytesElements(data []byte) (int, error) {
	n := 0
	for off := 0; off < len(data); n++ {
		if len(data)-off < 4 {
			return n, fmt.Errorf("BYTES element %d at offset %d: %d bytes left, need a 4-byte length prefix", n, off, len(data)-off)
		}
		l := binary.LittleEndian.Uint32(data[off:])
		off += 4
		if uint64(l) > uint64(len(data)-off) {
			return n, fmt.Errorf("BYTES element %d at offset %d: length %d overruns the %d bytes left", n, off-4, l, len(data)-off)
		}
		off += int(l)
	}
	return n, nil
}

// nextBytesElement splits the first BYTES element off data; data must have
// passed BytesElements.
func nextBytesElement(data []byte) (elem, rest []byte) {
	l := binary.LittleEndian.Uint32(data)
	return data[4 : 4+l], data[4+l:]
}

// AppendBytesElement appends one serialized BYTES element to dst.
func AppendBytesElement(dst, elem []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(elem)))
	return append(dst, elem...)
}

// appendJSONData appends the raw tensor data as a flat JSON array of typed
// values (the v2 JSON tensor encoding). data must already match datatype.
func appendJSONData(dst []byte, datatype string, data []byte) ([]byte, error) {
	size, err := ElementSize(datatype)
	if err != nil {
		return dst, err
	}
	dst = append(dst, '[')
	if size == 0 {
		for i := 0; len(data) > 0; i++ {
			if len(data) < 4 {
				return dst, fmt.Errorf("BYTES element %d: truncated length prefix", i)
			}
			l := binary.LittleEndian.Uint32(data)
			if uint64(l) > uint64(len(data)-4) {
				return dst, fmt.Errorf("BYTES element %d: length %d overruns the data", i, l)
			}
			var elem []byte
			elem, data = nextBytesElement(data)
			if !utf8.Valid(elem) {
				return dst, fmt.Errorf("BYTES element %d is not valid UTF-8 and cannot travel as a JSON string: use the binary tensor format", i)
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, elem)
		}
		return append(dst, ']'), nil
	}
	if len(data)%size != 0 {
		return dst, fmt.Errorf("%s data of %d bytes is not a whole number of %d-byte elements", datatype, len(data), size)
	}
	le := binary.LittleEndian
	for i := 0; i < len(data)/size; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		e := data[i*size:]
		switch datatype {
		case TypeBool:
			dst = strconv.AppendBool(dst, e[0] != 0)
		case TypeUint8:
			dst = strconv.AppendUint(dst, uint64(e[0]), 10)
		case TypeUint16:
			dst = strconv.AppendUint(dst, uint64(le.Uint16(e)), 10)
		case TypeUint32:
			dst = strconv.AppendUint(dst, uint64(le.Uint32(e)), 10)
		case TypeUint64:
			dst = strconv.AppendUint(dst, le.Uint64(e), 10)
		case TypeInt8:
			dst = strconv.AppendInt(dst, int64(int8(e[0])), 10)
		case TypeInt16:
			dst = strconv.AppendInt(dst, int64(int16(le.Uint16(e))), 10)
		case TypeInt32:
			dst = strconv.AppendInt(dst, int64(int32(le.Uint32(e))), 10)
		case TypeInt64:
			dst = strconv.AppendInt(dst, int64(le.Uint64(e)), 10)
		case TypeFP16, TypeBF16, TypeFP32, TypeFP64:
			var f float64
			bits := 32
			switch datatype {
			case TypeFP16:
				f = float64(HalfToFloat32(le.Uint16(e)))
			case TypeBF16:
				f = float64(BF16ToFloat32(le.Uint16(e)))
			case TypeFP32:
				f = float64(math.Float32frombits(le.Uint32(e)))
			default:
				f, bits = math.Float64frombits(le.Uint64(e)), 64
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return dst, fmt.Errorf("%s element %d is %v, which JSON cannot carry: use the binary tensor format", datatype, i, f)
			}
			dst = strconv.AppendFloat(dst, f, 'g', -1, bits)
		}
	}
	return append(dst, ']'), nil
}

// appendJSONString quotes valid UTF-8 as a JSON string, escaping only
// what JSON requires (no HTML escaping, unlike encoding/json).
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// decodeJSONData turns a JSON tensor "data" value (flat or nested arrays of
// typed values) into raw little-endian bytes, and returns the element count.
func decodeJSONData(datatype string, raw []byte) ([]byte, int, error) {
	size, err := ElementSize(datatype)
	if err != nil {
		return nil, 0, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out []byte
	if size > 0 {
		out = make([]byte, 0, len(raw)/2*size/2)
	}
	depth, count := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%s data: %w", datatype, err)
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '[':
				depth++
			case ']':
				depth--
			default:
				return nil, 0, fmt.Errorf("%s data: found an object; data must be an array of values", datatype)
			}
			continue
		case nil:
			return nil, 0, fmt.Errorf("%s data element %d is null", datatype, count)
		}
		if depth == 0 {
			return nil, 0, fmt.Errorf("%s data must be a JSON array", datatype)
		}
		out, err = appendJSONValue(out, datatype, tok)
		if err != nil {
			return nil, 0, fmt.Errorf("%s data element %d: %w", datatype, count, err)
		}
		count++
	}
	if depth != 0 {
		return nil, 0, fmt.Errorf("%s data: unbalanced brackets", datatype)
	}
	return out, count, nil
}

func appendJSONValue(dst []byte, datatype string, tok json.Token) ([]byte, error) {
	le := binary.LittleEndian
	if datatype == TypeBytes {
		s, ok := tok.(string)
		if !ok {
			return dst, fmt.Errorf("got %v, want a string", tok)
		}
		return AppendBytesElement(dst, []byte(s)), nil
	}
	if datatype == TypeBool {
		b, ok := tok.(bool)
		if !ok {
			return dst, fmt.Errorf("got %v, want true or false", tok)
		}
		if b {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	}
	num, ok := tok.(json.Number)
	if !ok {
		return dst, fmt.Errorf("got %v, want a number", tok)
	}
	s := string(num)
	switch datatype {
	case TypeUint8, TypeUint16, TypeUint32, TypeUint64:
		bits := intBits(datatype)
		u, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return dst, fmt.Errorf("%q is not a %s", s, datatype)
		}
		switch bits {
		case 8:
			return append(dst, byte(u)), nil
		case 16:
			return le.AppendUint16(dst, uint16(u)), nil
		case 32:
			return le.AppendUint32(dst, uint32(u)), nil
		}
		return le.AppendUint64(dst, u), nil
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64:
		bits := intBits(datatype)
		i, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return dst, fmt.Errorf("%q is not an %s", s, datatype)
		}
		switch bits {
		case 8:
			return append(dst, byte(int8(i))), nil
		case 16:
			return le.AppendUint16(dst, uint16(int16(i))), nil
		case 32:
			return le.AppendUint32(dst, uint32(int32(i))), nil
		}
		return le.AppendUint64(dst, uint64(i)), nil
	case TypeFP64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return dst, fmt.Errorf("%q is not an FP64", s)
		}
		return le.AppendUint64(dst, math.Float64bits(f)), nil
	}
	f, err := strconv.ParseFloat(s, 32)
	if err != nil {
		return dst, fmt.Errorf("%q is not an %s", s, datatype)
	}
	switch datatype {
	case TypeFP16:
		return le.AppendUint16(dst, Float32ToHalf(float32(f))), nil
	case TypeBF16:
		return le.AppendUint16(dst, Float32ToBF16(float32(f))), nil
	}
	return le.AppendUint32(dst, math.Float32bits(float32(f))), nil
}

func intBits(datatype string) int {
	switch datatype {
	case TypeUint8, TypeInt8:
		return 8
	case TypeUint16, TypeInt16:
		return 16
	case TypeUint32, TypeInt32:
		return 32
	}
	return 64
}

// Float32ToHalf converts to IEEE 754 binary16, rounding to nearest even.
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN; keep NaN a NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127+15 >= 0x1f: // overflow
		return sign | 0x7c00
	case exp-127+15 <= 0: // subnormal half or zero
		e := exp - 127 + 15
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint32(14 - e)
		half := m >> shift
		rem := m & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	e := uint32(exp - 127 + 15)
	half := e<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, which is still correct
	}
	return sign | uint16(half)
}

// HalfToFloat32 converts IEEE 754 binary16 to float32 exactly.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		f := float32(mant) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToBF16 converts to bfloat16, rounding to nearest even.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it a NaN
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// BF16ToFloat32 converts bfloat16 to float32 exactly.
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
