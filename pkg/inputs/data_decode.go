package inputs

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// decodeArray converts raw, a JSON array (flat or nested) of values of t,
// to the binary layout, with exactly n elements (any number when n < 0).
// raw must be valid JSON. FP16 and BF16 are rounded to nearest even from the
// decimal text itself, and BYTES is sized exactly; other types go through
// datatype.DecodeJSON.
func decodeArray(t datatype.Type, raw []byte, n int64) ([]byte, int64, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, 0, fmt.Errorf("contents must be a JSON array, got %s", clipJSON(raw))
	}
	if n > int64(len(raw)) { // every element takes at least one byte of JSON: do not allocate for n
		count, err := scalars(raw, func(int64, []byte) error { return nil })
		if err != nil {
			return nil, 0, err
		}
		return nil, 0, countErr(count, n)
	}
	switch t {
	case datatype.FP16, datatype.BF16:
		return decodeHalf(t, raw, n)
	case datatype.Bytes:
		return decodeStrings(raw, n)
	}
	out, count, err := datatype.DecodeJSON(t, raw, n)
	if err != nil {
		return nil, 0, fmt.Errorf("%v; fix the data or the shape", err)
	}
	return out, count, nil
}

// scalars calls fn for each scalar of the JSON array raw (nested arrays are
// flattened) with its index, and returns how many there were. raw must be
// valid JSON; an object element is an error.
func scalars(raw []byte, fn func(k int64, tok []byte) error) (int64, error) {
	var k int64
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case '[', ']', ',', ' ', '\t', '\r', '\n':
			i++
			continue
		case '{':
			return k, fmt.Errorf("element %d is an object; give values only", k)
		}
		end := i + 1
		if raw[i] == '"' {
			end = stringEnd(raw, i)
		} else {
			for end < len(raw) && !isDelim(raw[end]) {
				end++
			}
		}
		if err := fn(k, raw[i:end]); err != nil {
			return k, err
		}
		k++
		i = end
	}
	return k, nil
}

func countErr(got, n int64) error {
	return fmt.Errorf("the array has %d elements but the shape needs %d; fix the data or the shape", got, n)
}

// decodeStrings converts a JSON array of strings to BYTES elements, each a
// 4-byte length and its bytes, in one exactly sized buffer.
func decodeStrings(raw []byte, n int64) ([]byte, int64, error) {
	size := 0
	count, err := scalars(raw, func(k int64, tok []byte) error {
		if tok[0] != '"' {
			return fmt.Errorf("element %d: BYTES elements must be JSON strings, got %s", k, clipJSON(tok))
		}
		size += 4 + len(tok) - 2 // unescaping never makes a string longer
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if n >= 0 && count != n {
		return nil, 0, countErr(count, n)
	}
	out := make([]byte, 0, size)
	_, err = scalars(raw, func(k int64, tok []byte) error {
		s := tok[1 : len(tok)-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			var u string
			if err := json.Unmarshal(tok, &u); err != nil {
				return fmt.Errorf("element %d: bad JSON string %s: %v", k, clipJSON(tok), err)
			}
			s = []byte(u)
		}
		out = datatype.AppendBytesElement(out, s)
		return nil
	})
	return out, count, err
}

// decodeHalf converts a JSON array of numbers to FP16 or BF16.
func decodeHalf(t datatype.Type, raw []byte, n int64) ([]byte, int64, error) {
	var out []byte
	if n >= 0 {
		out = make([]byte, 0, 2*n)
	}
	count, err := scalars(raw, func(k int64, tok []byte) error {
		if k == n {
			return fmt.Errorf("the array has more than the %d elements the shape needs; fix the data or the shape", n)
		}
		h, err := parseHalf(t, tok)
		if err != nil {
			return fmt.Errorf("element %d: %v", k, err)
		}
		out = binary.LittleEndian.AppendUint16(out, h)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if n >= 0 && count != n {
		return nil, 0, countErr(count, n)
	}
	return out, count, nil
}

// parseHalf converts a JSON number to an FP16 or BF16 bit pattern, rounded
// to nearest even from the decimal value. A value past the type's range is
// an error.
func parseHalf(t datatype.Type, tok []byte) (uint16, error) {
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is out of the range of %s", clipJSON(tok), t)
		}
		return 0, fmt.Errorf("%s is not a number", clipJSON(tok))
	}
	h := toHalf(t, f)
	// The decimal was rounded once already, to float64. If that landed
	// exactly halfway between two halves, the tie must be broken by the
	// decimal itself, which may lie on either side of it. (At 0 the two
	// sides differ only in sign, which f already has; the length cap keeps
	// big.Rat's work small.)
	down, up := toHalf(t, math.Nextafter(f, math.Inf(-1))), toHalf(t, math.Nextafter(f, math.Inf(1)))
	if f != 0 && down != up && f == (halfValue(t, down)+halfValue(t, up))/2 && len(tok) <= 1000 {
		if r, ok := new(big.Rat).SetString(string(tok)); ok {
			switch r.Cmp(new(big.Rat).SetFloat64(f)) {
			case -1:
				h = down
			case 1:
				h = up
			}
		}
	}
	if isInfHalf(t, h) {
		return 0, fmt.Errorf("%s is out of the range of %s", clipJSON(tok), t)
	}
	return h, nil
}

// toHalf rounds a float64 to FP16 or BF16, to nearest even. It goes
// through float32 rounded to odd, which keeps the second rounding exact.
func toHalf(t datatype.Type, f float64) uint16 {
	g := float32(f)
	if !math.IsInf(float64(g), 0) && float64(g) != f {
		if math.Abs(float64(g)) > math.Abs(f) { // truncate toward zero
			g = math.Nextafter32(g, 0)
		}
		g = math.Float32frombits(math.Float32bits(g) | 1) // sticky bit: round to odd
	}
	if t == datatype.BF16 {
		return datatype.Float32ToBF16(g)
	}
	return datatype.Float32ToFP16(g)
}

func halfValue(t datatype.Type, h uint16) float64 {
	if t == datatype.BF16 {
		return float64(datatype.BF16ToFloat32(h))
	}
	return float64(datatype.FP16ToFloat32(h))
}

func isInfHalf(t datatype.Type, h uint16) bool {
	if t == datatype.BF16 {
		return h&0x7fff == 0x7f80
	}
	return h&0x7fff == 0x7c00
}
