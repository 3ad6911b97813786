package client

import (
	"errors"
	"fmt"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// v2 datatype names. Package datatype holds what they mean: element sizes,
// the BYTES layout, FP16 and BF16 conversions.
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

// CheckTensor reports whether t's Data matches its datatype and shape.
func CheckTensor(t *Tensor) error {
	if t.Name == "" {
		return errors.New("tensor has no name")
	}
	dt, err := datatype.Parse(t.Datatype)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if err := datatype.CheckData(dt, t.Shape, t.Data); err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return nil
}

// AppendBytesElement appends elem to dst as one serialized BYTES element
// (a 4-byte little-endian length, then the bytes).
func AppendBytesElement(dst, elem []byte) []byte { return datatype.AppendBytesElement(dst, elem) }

// appendJSONData appends raw tensor data of the named datatype as a flat
// JSON array, failing on values JSON cannot carry.
func appendJSONData(dst []byte, name string, data []byte) ([]byte, error) {
	dt, err := datatype.Parse(name)
	if err != nil {
		return dst, err
	}
	return datatype.AppendJSON(dst, dt, data)
}

// decodeJSONData turns a JSON tensor "data" value (flat or nested arrays of
// typed values) into raw little-endian bytes, and returns the element count.
// raw comes from encoding/json, so it is valid JSON.
func decodeJSONData(name string, raw []byte) ([]byte, int, error) {
	dt, err := datatype.Parse(name)
	if err != nil {
		return nil, 0, err
	}
	out, n, err := datatype.DecodeJSON(dt, raw, -1)
	if err != nil {
		return nil, 0, fmt.Errorf("%s data: %w", dt, err)
	}
	return out, int(n), nil
}
