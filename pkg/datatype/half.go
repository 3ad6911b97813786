package datatype

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// FP16 is IEEE 754 binary16; BF16 (bfloat16) is the top half of an FP32.
// Both travel as their 16-bit patterns; the conversions below are exact
// from 16 to 32 bits and round to nearest even from 32 to 16.

// FP16ToFloat32 converts an FP16 bit pattern to float32, exactly.
func FP16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN, payload kept
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0: // zero or subnormal: mant × 2^-24, exact in float32
		f := float32(mant) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToFP16 converts to an FP16 bit pattern, rounding to nearest even;
// too large a value becomes Inf and a NaN stays a NaN.
func Float32ToFP16(f float32) uint16 {
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

// BF16ToFloat32 converts a BF16 bit pattern to float32, exactly.
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBF16 converts to a BF16 bit pattern, rounding to nearest even;
// a NaN stays a NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: rounding could make it Inf
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// parseHalf converts a JSON number to an FP16 or BF16 bit pattern, rounded
// to nearest even from the decimal text itself: going through float32 (or
// float64 alone) rounds twice and can land on the wrong side of a tie. A
// value past the type's range is an error, or ±Inf when lenient.
func parseHalf(t Type, tok []byte, lenient bool) (uint16, error) {
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		if err = floatErr(tok, t, err, lenient); err != nil {
			return 0, err
		}
	}
	h := toHalf(t, f)
	// The decimal was rounded once already, to float64. If that landed
	// exactly halfway between two halves, the decimal itself breaks the
	// tie (the length cap keeps big.Rat's work small).
	down, up := toHalf(t, math.Nextafter(f, math.Inf(-1))), toHalf(t, math.Nextafter(f, math.Inf(1)))
	if f != 0 && !math.IsInf(f, 0) && down != up && f == (halfValue(t, down)+halfValue(t, up))/2 && len(tok) <= 1000 {
		if r, ok := new(big.Rat).SetString(string(tok)); ok {
			switch r.Cmp(new(big.Rat).SetFloat64(f)) {
			case -1:
				h = down
			case 1:
				h = up
			}
		}
	}
	if !lenient && !math.IsInf(f, 0) && isInfHalf(t, h) {
		return 0, fmt.Errorf("%s is out of the range of %s", clip(tok), t)
	}
	return h, nil
}

// toHalf rounds a float64 to FP16 or BF16, to nearest even. It goes
// through float32 rounded to odd, which keeps the second rounding exact.
func toHalf(t Type, f float64) uint16 {
	g := float32(f)
	if !math.IsInf(float64(g), 0) && float64(g) != f {
		if math.Abs(float64(g)) > math.Abs(f) { // truncate toward zero
			g = math.Nextafter32(g, 0)
		}
		g = math.Float32frombits(math.Float32bits(g) | 1) // sticky bit: round to odd
	}
	if t == BF16 {
		return Float32ToBF16(g)
	}
	return Float32ToFP16(g)
}

func halfValue(t Type, h uint16) float64 {
	if t == BF16 {
		return float64(BF16ToFloat32(h))
	}
	return float64(FP16ToFloat32(h))
}

func isInfHalf(t Type, h uint16) bool {
	if t == BF16 {
		return h&0x7fff == 0x7f80
	}
	return h&0x7fff == 0x7c00
}
