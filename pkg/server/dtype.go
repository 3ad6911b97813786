package server

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// dtype is a v2 tensor datatype. The zero value is invalid so that a
// forgotten assignment never passes validation.
type dtype uint8

const (
	dtInvalid dtype = iota
	dtBool
	dtUint8
	dtUint16
	dtUint32
	dtUint64
	dtInt8
	dtInt16
	dtInt32
	dtInt64
	dtFP16
	dtFP32
	dtFP64
	dtBytes
	dtBF16
	dtCount
)

// dtypeNames are the protocol spellings, indexed by dtype.
var dtypeNames = [dtCount]string{
	dtInvalid: "INVALID",
	dtBool:    "BOOL",
	dtUint8:   "UINT8",
	dtUint16:  "UINT16",
	dtUint32:  "UINT32",
	dtUint64:  "UINT64",
	dtInt8:    "INT8",
	dtInt16:   "INT16",
	dtInt32:   "INT32",
	dtInt64:   "INT64",
	dtFP16:    "FP16",
	dtFP32:    "FP32",
	dtFP64:    "FP64",
	dtBytes:   "BYTES",
	dtBF16:    "BF16",
}

// dtypeSizes are element sizes in bytes; BYTES is variable (0).
var dtypeSizes = [dtCount]int{
	dtBool: 1, dtUint8: 1, dtUint16: 2, dtUint32: 4, dtUint64: 8,
	dtInt8: 1, dtInt16: 2, dtInt32: 4, dtInt64: 8,
	dtFP16: 2, dtFP32: 4, dtFP64: 8, dtBF16: 2,
}

func (d dtype) String() string {
	if d >= dtCount {
		return "INVALID"
	}
	return dtypeNames[d]
}

// size is the element size in bytes, 0 for BYTES.
func (d dtype) size() int { return dtypeSizes[d] }

// configType is the model-configuration spelling (TYPE_STRING for BYTES);
// the enum values of DataType line up with dtype by construction.
func (d dtype) configType() inferencepb.DataType { return inferencepb.DataType(d) }

// parseDtype maps a protocol spelling to a dtype without allocating.
func parseDtype(s string) (dtype, bool) {
	for d := dtBool; d < dtCount; d++ {
		if dtypeNames[d] == s {
			return d, true
		}
	}
	return dtInvalid, false
}

// allDtypes lists every valid datatype, in protocol order.
func allDtypes() []dtype {
	out := make([]dtype, 0, dtCount-1)
	for d := dtBool; d < dtCount; d++ {
		out = append(out, d)
	}
	return out
}

// maxElements bounds shape products so that arithmetic on them never
// overflows; no request this server accepts comes near it.
const maxElements = 1 << 40

// elementCount is the product of shape, or an error for negative dims or
// absurd sizes.
func elementCount(shape []int64) (int64, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has negative dimension %d at index %d; every dimension must be >= 0", shape, d, i)
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > maxElements/d {
			return 0, fmt.Errorf("shape %v has more than %d elements; send a smaller tensor", shape, int64(maxElements))
		}
		n *= d
	}
	return n, nil
}

// checkBytesElements verifies that data is exactly n BYTES elements, each a
// 4-byte little-endian length followed by that many bytes.
func checkBytesElements(data []byte, n int64) error {
	var count int64
	for off := 0; off < len(data); count++ {
		if len(data)-off < 4 {
			return fmt.Errorf("BYTES element %d is truncated: %d bytes left, need a 4-byte length prefix", count, len(data)-off)
		}
		l := binary.LittleEndian.Uint32(data[off:])
		off += 4
		if uint64(l) > uint64(len(data)-off) {
			return fmt.Errorf("BYTES element %d declares %d bytes but only %d remain", count, l, len(data)-off)
		}
		off += int(l)
	}
	if count != n {
		return fmt.Errorf("BYTES data holds %d elements but the shape needs %d", count, n)
	}
	return nil
}

// forEachBytes calls f with each element of well-formed BYTES data.
func forEachBytes(data []byte, f func(b []byte)) {
	for off := 0; off+4 <= len(data); {
		l := int(binary.LittleEndian.Uint32(data[off:]))
		off += 4
		if l > len(data)-off {
			return
		}
		f(data[off : off+l])
		off += l
	}
}

// appendBytesElement appends one BYTES element in wire form.
func appendBytesElement(dst, b []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// fp16ToFloat32 decodes an IEEE 754 half-precision value.
func fp16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		frac &= 0x3ff
		return math.Float32frombits(sign | e<<23 | frac<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// float32ToFP16 encodes f as half precision, rounding to nearest even.
func float32ToFP16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	frac := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN
		if frac != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e <= 0:
		if e < -10 {
			return sign
		}
		frac |= 0x800000
		shift := uint32(14 - e)
		h := frac >> shift
		rem := frac & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | frac>>13
	rem := frac & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is the right answer
	}
	return sign | uint16(h)
}

// bf16ToFloat32 and float32ToBF16 convert bfloat16 (the top half of an FP32).
func bf16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

func float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN stays NaN
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
