package datatype

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// In the v2 JSON tensor encoding, "data" is an array of the elements as
// JSON values: true/false for BOOL, numbers for the integer and float
// types (FP16 and BF16 as their float32 values), strings for BYTES. A
// sender writes a flat array; a receiver also accepts nested ones.
//
// Some values have no standard JSON form: NaN and ±Inf, and BYTES that are
// not UTF-8. A client encoding a request must refuse them (AppendJSON), so
// the user switches to the binary format; a server encoding a response
// writes them as protojson does (AppendJSONLenient). Likewise a number past
// a float type's range is an error for DecodeJSON and ±Inf for
// DecodeJSONLenient, as JSON decoders conventionally read it.

// AppendJSON appends data, elements of t in the binary layout, to dst as a
// flat JSON array. It fails, naming the element, on data that is not whole
// elements of t and on values standard JSON cannot carry.
func AppendJSON(dst []byte, t Type, data []byte) ([]byte, error) {
	return appendJSON(dst, t, data, false)
}

// AppendJSONLenient appends data, elements of t in the binary layout, to
// dst as a flat JSON array. NaN and ±Inf become the strings "NaN",
// "Infinity" and "-Infinity" and invalid UTF-8 becomes U+FFFD, so the
// result is always valid JSON. data should have passed CheckData: the array
// ends before a malformed BYTES element or a partial trailing element.
func AppendJSONLenient(dst []byte, t Type, data []byte) []byte {
	dst, _ = appendJSON(dst, t, data, true) // lenient encoding has no error
	return dst
}

func appendJSON(dst []byte, t Type, data []byte, lenient bool) ([]byte, error) {
	size := t.Size()
	switch {
	case t == Bytes:
		if !lenient {
			if _, err := BytesElements(data); err != nil {
				return dst, err
			}
		}
		dst = append(dst, '[')
		for i := 0; ; i++ {
			elem, rest, ok := NextBytesElement(data)
			if !ok {
				break
			}
			if !lenient && !utf8.Valid(elem) {
				return dst, fmt.Errorf("BYTES element %d is not valid UTF-8 and cannot travel as a JSON string: use the binary tensor format", i)
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, elem)
			data = rest
		}
		return append(dst, ']'), nil
	case size == 0 && lenient:
		return append(dst, '[', ']'), nil
	case size == 0:
		return dst, fmt.Errorf("datatype %s is not valid", t)
	case !lenient && len(data)%size != 0:
		return dst, fmt.Errorf("%s data of %d bytes is not a whole number of %d-byte elements", t, len(data), size)
	}
	le := binary.LittleEndian
	dst = append(dst, '[')
	for i := 0; i+size <= len(data); i += size {
		if i > 0 {
			dst = append(dst, ',')
		}
		e := data[i:]
		var f float64
		bits := 32
		switch t {
		case Bool:
			dst = strconv.AppendBool(dst, e[0] != 0)
			continue
		case Uint8:
			dst = strconv.AppendUint(dst, uint64(e[0]), 10)
			continue
		case Uint16:
			dst = strconv.AppendUint(dst, uint64(le.Uint16(e)), 10)
			continue
		case Uint32:
			dst = strconv.AppendUint(dst, uint64(le.Uint32(e)), 10)
			continue
		case Uint64:
			dst = strconv.AppendUint(dst, le.Uint64(e), 10)
			continue
		case Int8:
			dst = strconv.AppendInt(dst, int64(int8(e[0])), 10)
			continue
		case Int16:
			dst = strconv.AppendInt(dst, int64(int16(le.Uint16(e))), 10)
			continue
		case Int32:
			dst = strconv.AppendInt(dst, int64(int32(le.Uint32(e))), 10)
			continue
		case Int64:
			dst = strconv.AppendInt(dst, int64(le.Uint64(e)), 10)
			continue
		case FP16:
			f = float64(FP16ToFloat32(le.Uint16(e)))
		case BF16:
			f = float64(BF16ToFloat32(le.Uint16(e)))
		case FP32:
			f = float64(math.Float32frombits(le.Uint32(e)))
		case FP64:
			f, bits = math.Float64frombits(le.Uint64(e)), 64
		}
		if !lenient && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return dst, fmt.Errorf("%s element %d is %v, which JSON cannot carry: use the binary tensor format", t, i/size, f)
		}
		dst = AppendJSONFloat(dst, f, bits)
	}
	return append(dst, ']'), nil
}

// AppendJSONFloat appends f, a float of the given bit size (32 or 64), in
// its shortest form. NaN and infinities, which JSON numbers cannot hold,
// become the strings protojson uses for them.
func AppendJSONFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaping only what JSON
// requires (no HTML escaping, unlike encoding/json). Invalid UTF-8 becomes
// U+FFFD, as encoding/json does, so the output is always valid JSON.
func AppendJSONString[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c >= 0x20:
				dst = append(dst, c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		var r rune
		var n int
		switch v := any(s).(type) {
		case string:
			r, n = utf8.DecodeRuneInString(v[i:])
		case []byte:
			r, n = utf8.DecodeRune(v[i:])
		default:
			r, n = utf8.DecodeRuneInString(string(s[i:]))
		}
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}

// DecodeJSON converts raw, the "data" value of a JSON tensor (an array of
// values of t, flat or nested), to the binary layout and returns it with its
// element count. With n >= 0 the array must hold exactly n elements; with
// n < 0 any number. A number past a float type's range is an error.
//
// raw must be valid JSON, as a json.RawMessage that encoding/json filled
// is: DecodeJSON finds the values without checking all of JSON's grammar.
// On other input it never panics and what it returns is consistent, but it
// may accept what JSON forbids.
func DecodeJSON(t Type, raw []byte, n int64) ([]byte, int64, error) {
	return decodeJSON(t, raw, n, false)
}

// DecodeJSONLenient is DecodeJSON, except that a number past a float
// type's range decodes as ±Inf.
func DecodeJSONLenient(t Type, raw []byte, n int64) ([]byte, int64, error) {
	return decodeJSON(t, raw, n, true)
}

func decodeJSON(t Type, raw []byte, n int64, lenient bool) ([]byte, int64, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, 0, errors.New(`has no data; give "data":[...]`)
	case raw[0] != '[':
		return nil, 0, fmt.Errorf(`"data" must be a JSON array, got %s`, clip(raw))
	case !t.Valid():
		return nil, 0, fmt.Errorf("datatype %s is not valid", t)
	}
	var out []byte
	// Every element takes at least one byte of JSON: a larger n cannot be
	// met, so nothing is allocated for it and the count below says so.
	if n >= 0 && n <= int64(len(raw)) {
		if t == Bytes {
			out = make([]byte, 0, int(n)*4+len(raw))
		} else {
			out = make([]byte, 0, int(n)*t.Size())
		}
	} else if t != Bytes {
		out = make([]byte, 0, len(raw)/2*t.Size()/2) // a guess: one element per four bytes of JSON
	}
	var count int64
	depth := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
			continue
		case c == '[':
			depth++
			i++
			continue
		case c == ']':
			depth--
			i++
			if depth < 0 {
				return nil, 0, errors.New(`"data" has an unbalanced ']'`)
			}
			continue
		}
		if depth == 0 {
			return nil, 0, errors.New(`"data" has content after its closing ']'`)
		}
		if c == '{' {
			return nil, 0, fmt.Errorf("element %d is an object; give values only", count)
		}
		end, err := tokenEnd(raw, i)
		if err != nil {
			return nil, 0, err
		}
		tok := raw[i:end]
		i = end
		if count == n {
			return nil, 0, fmt.Errorf(`"data" has more than the %d elements the shape needs`, n)
		}
		out, err = appendValue(out, t, tok, lenient)
		if err != nil {
			return nil, 0, fmt.Errorf("element %d: %w", count, err)
		}
		count++
	}
	if depth != 0 {
		return nil, 0, errors.New(`"data" has an unclosed '['`)
	}
	if n >= 0 && count != n {
		return nil, 0, fmt.Errorf(`"data" has %d elements but the shape needs %d`, count, n)
	}
	return out, count, nil
}

// tokenEnd returns the end of the scalar token starting at raw[i].
func tokenEnd(raw []byte, i int) (int, error) {
	if raw[i] == '"' {
		for j := i + 1; j < len(raw); j++ {
			switch raw[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, errors.New(`"data" has an unterminated string`)
	}
	j := i
	for j < len(raw) {
		c := raw[j]
		if c == ',' || c == ']' || c == '[' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		j++
	}
	return j, nil
}

// appendValue appends one JSON scalar as an element of t.
func appendValue(out []byte, t Type, tok []byte, lenient bool) ([]byte, error) {
	le := binary.LittleEndian
	if t == Bytes {
		if tok[0] != '"' {
			return nil, fmt.Errorf("BYTES elements must be JSON strings, got %s", clip(tok))
		}
		if bytes.IndexByte(tok, '\\') < 0 { // nothing to unescape: take the bytes as they are
			return AppendBytesElement(out, tok[1:len(tok)-1]), nil
		}
		var s string
		if err := json.Unmarshal(tok, &s); err != nil {
			return nil, fmt.Errorf("bad JSON string %s: %v", clip(tok), err)
		}
		return AppendBytesElement(out, []byte(s)), nil
	}
	if t == Bool {
		switch string(tok) {
		case "true":
			return append(out, 1), nil
		case "false":
			return append(out, 0), nil
		}
		return nil, fmt.Errorf("BOOL elements must be true or false, got %s", clip(tok))
	}
	s := string(tok)
	switch t {
	case Uint8, Uint16, Uint32, Uint64:
		u, err := strconv.ParseUint(s, 10, t.Size()*8)
		if err != nil {
			return nil, fmt.Errorf("%s is not a %s", clip(tok), t)
		}
		return appendUint(out, u, t.Size()), nil
	case Int8, Int16, Int32, Int64:
		v, err := strconv.ParseInt(s, 10, t.Size()*8)
		if err != nil {
			return nil, fmt.Errorf("%s is not an %s", clip(tok), t)
		}
		return appendUint(out, uint64(v), t.Size()), nil
	case FP16, BF16:
		h, err := parseHalf(t, tok, lenient)
		if err != nil {
			return nil, err
		}
		return le.AppendUint16(out, h), nil
	case FP32:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil {
			if err = floatErr(tok, t, err, lenient); err != nil {
				return nil, err
			}
		}
		return le.AppendUint32(out, math.Float32bits(float32(f))), nil
	}
	f, err := strconv.ParseFloat(s, 64) // FP64
	if err != nil {
		if err = floatErr(tok, t, err, lenient); err != nil {
			return nil, err
		}
	}
	return le.AppendUint64(out, math.Float64bits(f)), nil
}

// appendUint appends the low size bytes of v, little-endian.
func appendUint(out []byte, v uint64, size int) []byte {
	switch size {
	case 1:
		return append(out, byte(v))
	case 2:
		return binary.LittleEndian.AppendUint16(out, uint16(v))
	case 4:
		return binary.LittleEndian.AppendUint32(out, uint32(v))
	}
	return binary.LittleEndian.AppendUint64(out, v)
}

// floatErr explains a float parse error, or returns nil for an
// out-of-range number when lenient (strconv has already made it ±Inf).
func floatErr(tok []byte, t Type, err error, lenient bool) error {
	if !errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%s is not a number", clip(tok))
	}
	if lenient {
		return nil
	}
	return fmt.Errorf("%s is out of the range of %s", clip(tok), t)
}

// clip shortens raw JSON for an error message.
func clip(v []byte) string {
	if len(v) > 40 {
		return string(v[:40]) + "..."
	}
	return string(v)
}
