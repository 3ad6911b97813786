// Package datatype holds the KServe v2 (Open Inference Protocol) tensor
// datatypes and how their elements travel: names and sizes, element counts
// from shapes, the binary layout (little-endian; a BYTES element is a 4-byte
// length then its bytes; FP16 and BF16 are 16-bit patterns), the typed
// contents of gRPC messages, and JSON values.
//
// pkg/client, pkg/server and pkg/inputs all use it, so the two ends of a
// perfgo run cannot disagree about what a tensor holds.
package datatype

import (
	"fmt"
	"math"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// Type is a v2 tensor datatype. Its values are those of the model
// configuration's DataType enum (BYTES is TYPE_STRING there); the zero
// value is Invalid so that a forgotten assignment never passes a check.
type Type uint8

// The datatypes, in the order of the DataType enum.
const (
	Invalid Type = iota
	Bool
	Uint8
	Uint16
	Uint32
	Uint64
	Int8
	Int16
	Int32
	Int64
	FP16
	FP32
	FP64
	Bytes
	BF16
	numTypes
)

// names are the protocol spellings, indexed by Type.
var names = [numTypes]string{
	Invalid: "INVALID",
	Bool:    "BOOL",
	Uint8:   "UINT8",
	Uint16:  "UINT16",
	Uint32:  "UINT32",
	Uint64:  "UINT64",
	Int8:    "INT8",
	Int16:   "INT16",
	Int32:   "INT32",
	Int64:   "INT64",
	FP16:    "FP16",
	FP32:    "FP32",
	FP64:    "FP64",
	Bytes:   "BYTES",
	BF16:    "BF16",
}

// sizes are element sizes in bytes; BYTES elements vary (0).
var sizes = [numTypes]int{
	Bool: 1, Uint8: 1, Uint16: 2, Uint32: 4, Uint64: 8,
	Int8: 1, Int16: 2, Int32: 4, Int64: 8,
	FP16: 2, FP32: 4, FP64: 8, BF16: 2,
}

// String returns the protocol spelling ("FP32").
func (t Type) String() string {
	if t >= numTypes {
		return names[Invalid]
	}
	return names[t]
}

// Size is the size of one element in bytes: 0 for BYTES, whose elements
// vary, and for Invalid.
func (t Type) Size() int {
	if t >= numTypes {
		return 0
	}
	return sizes[t]
}

// Valid reports whether t is one of the protocol's datatypes.
func (t Type) Valid() bool { return t > Invalid && t < numTypes }

// ConfigType is t in the model configuration's enum (TYPE_STRING for BYTES).
func (t Type) ConfigType() inferencepb.DataType {
	if !t.Valid() {
		return inferencepb.DataType_TYPE_INVALID
	}
	return inferencepb.DataType(t)
}

// Parse returns the datatype spelled s, as the protocol spells it ("FP32").
// It does not allocate unless s is unknown.
func Parse(s string) (Type, error) {
	// A switch, not a search of names: it runs per tensor, and the compiler
	// turns it into a binary search (TestTypes checks it against names).
	switch s {
	case "BOOL":
		return Bool, nil
	case "UINT8":
		return Uint8, nil
	case "UINT16":
		return Uint16, nil
	case "UINT32":
		return Uint32, nil
	case "UINT64":
		return Uint64, nil
	case "INT8":
		return Int8, nil
	case "INT16":
		return Int16, nil
	case "INT32":
		return Int32, nil
	case "INT64":
		return Int64, nil
	case "FP16":
		return FP16, nil
	case "FP32":
		return FP32, nil
	case "FP64":
		return FP64, nil
	case "BYTES":
		return Bytes, nil
	case "BF16":
		return BF16, nil
	}
	return Invalid, fmt.Errorf("unknown datatype %q; use one of BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, FP64, BYTES", s)
}

// All lists every valid datatype, in the order of the DataType enum.
func All() []Type {
	out := make([]Type, 0, numTypes-1)
	for t := Bool; t < numTypes; t++ {
		out = append(out, t)
	}
	return out
}

// ElementCount returns the number of elements of a tensor of this shape (1
// for a scalar). Every dimension must be concrete: a negative one (-1, "any
// size", in model metadata) is an error, as is a product past int64.
func ElementCount(shape []int64) (int64, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has negative dimension %d at index %d; every dimension must be concrete (>= 0)", shape, d, i)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v: element count overflows int64", shape)
		}
		n *= d
	}
	return n, nil
}

// CheckData reports whether data, in the binary layout, holds exactly the
// elements a tensor of datatype t and this shape needs.
func CheckData(t Type, shape []int64, data []byte) error {
	n, err := ElementCount(shape)
	if err != nil {
		return err
	}
	if t == Bytes {
		got, err := BytesElements(data)
		if err != nil {
			return err
		}
		if int64(got) != n {
			return fmt.Errorf("shape %v needs %d BYTES elements but the data holds %d elements", shape, n, got)
		}
		return nil
	}
	size := int64(t.Size())
	switch {
	case size == 0:
		return fmt.Errorf("datatype %s is not valid", t)
	case n > math.MaxInt64/size:
		return fmt.Errorf("%s shape %v needs more than %d bytes of data, got %d bytes", t, shape, int64(math.MaxInt64), len(data))
	case int64(len(data)) != n*size:
		return fmt.Errorf("%s shape %v needs %d bytes of data, got %d bytes", t, shape, n*size, len(data))
	}
	return nil
}
