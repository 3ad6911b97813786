package datatype

import (
	"encoding/binary"
	"fmt"
)

// A BYTES tensor in the binary layout is its elements back to back, each a
// 4-byte little-endian length followed by that many bytes.

// BytesElements walks BYTES data and returns its element count. On
// malformed data it returns the count of whole elements before the bad one
// and an error that says where it is.
func BytesElements(data []byte) (int, error) {
	n := 0
	for off := 0; off < len(data); n++ {
		if len(data)-off < 4 {
			return n, fmt.Errorf("BYTES element %d at offset %d is truncated: %d bytes left, need a 4-byte length prefix", n, off, len(data)-off)
		}
		l := binary.LittleEndian.Uint32(data[off:])
		off += 4
		if uint64(l) > uint64(len(data)-off) {
			return n, fmt.Errorf("BYTES element %d at offset %d declares %d bytes, which overruns the %d bytes left", n, off-4, l, len(data)-off)
		}
		off += int(l)
	}
	return n, nil
}

// NextBytesElement splits the first element off BYTES data. ok is false,
// and elem nil, when data is empty or its first element is malformed.
func NextBytesElement(data []byte) (elem, rest []byte, ok bool) {
	if len(data) < 4 {
		return nil, data, false
	}
	l := binary.LittleEndian.Uint32(data)
	if uint64(l) > uint64(len(data)-4) {
		return nil, data, false
	}
	end := 4 + int(l)
	return data[4:end:end], data[end:], true
}

// AppendBytesElement appends elem to dst as one BYTES element.
func AppendBytesElement(dst, elem []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(elem)))
	return append(dst, elem...)
}
