package datatype

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// ContentsToRaw converts the typed contents of a gRPC tensor
// (InferTensorContents) to the binary layout. The field that t uses must
// hold exactly n elements, the count the shape needs; with n < 0 any number
// will do. FP16 and BF16 have no typed field. Without elements the result is
// nil.
func ContentsToRaw(t Type, c *inferencepb.InferTensorContents, n int64) ([]byte, error) {
	le := binary.LittleEndian
	switch t {
	case Bool:
		return convert("bool_contents", c.GetBoolContents(), n, 1, func(b []byte, x bool) []byte {
			if x {
				return append(b, 1)
			}
			return append(b, 0)
		})
	case Uint8:
		return convert("uint_contents", c.GetUintContents(), n, 1, func(b []byte, x uint32) []byte { return append(b, byte(x)) })
	case Uint16:
		return convert("uint_contents", c.GetUintContents(), n, 2, func(b []byte, x uint32) []byte { return le.AppendUint16(b, uint16(x)) })
	case Uint32:
		return convert("uint_contents", c.GetUintContents(), n, 4, le.AppendUint32)
	case Uint64:
		return convert("uint64_contents", c.GetUint64Contents(), n, 8, le.AppendUint64)
	case Int8:
		return convert("int_contents", c.GetIntContents(), n, 1, func(b []byte, x int32) []byte { return append(b, byte(int8(x))) })
	case Int16:
		return convert("int_contents", c.GetIntContents(), n, 2, func(b []byte, x int32) []byte { return le.AppendUint16(b, uint16(int16(x))) })
	case Int32:
		return convert("int_contents", c.GetIntContents(), n, 4, func(b []byte, x int32) []byte { return le.AppendUint32(b, uint32(x)) })
	case Int64:
		return convert("int64_contents", c.GetInt64Contents(), n, 8, func(b []byte, x int64) []byte { return le.AppendUint64(b, uint64(x)) })
	case FP32:
		return convert("fp32_contents", c.GetFp32Contents(), n, 4, func(b []byte, x float32) []byte { return le.AppendUint32(b, math.Float32bits(x)) })
	case FP64:
		return convert("fp64_contents", c.GetFp64Contents(), n, 8, func(b []byte, x float64) []byte { return le.AppendUint64(b, math.Float64bits(x)) })
	case Bytes:
		return convert("bytes_contents", c.GetBytesContents(), n, 4, AppendBytesElement)
	}
	return nil, fmt.Errorf("%s has no typed contents field; it travels only in raw_input_contents or raw_output_contents", t)
}

// convert appends every element of v with put, after checking the count.
// size is the bytes per element (the length prefix alone for BYTES).
func convert[E any](field string, v []E, n int64, size int, put func([]byte, E) []byte) ([]byte, error) {
	if n >= 0 && int64(len(v)) != n {
		return nil, fmt.Errorf("contents.%s has %d elements but the shape needs %d", field, len(v), n)
	}
	if len(v) == 0 {
		return nil, nil
	}
	out := make([]byte, 0, len(v)*size)
	for _, x := range v {
		out = put(out, x)
	}
	return out, nil
}
