package server

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does, so the output is always valid JSON.
func appendJSONString[T ~string | ~[]byte](dst []byte, s T) []byte {
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

// appendJSONFloat appends f; NaN and infinities, which JSON cannot hold,
// become the strings protojson uses for them.
func appendJSONFloat(dst []byte, f float64, bits int) []byte {
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

// appendTensorJSON appends t's data as a flat JSON array of the datatype's
// JSON values. t must be valid (checked by validation or produced by a model).
func appendTensorJSON(dst []byte, t *tensor) []byte {
	dst = append(dst, '[')
	d := t.data
	le := binary.LittleEndian
	sz := t.dt.size()
	if t.dt == dtBytes {
		first := true
		forEachBytes(d, func(b []byte) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendJSONString(dst, b)
		})
		return append(dst, ']')
	}
	for i := 0; i+sz <= len(d); i += sz {
		if i > 0 {
			dst = append(dst, ',')
		}
		e := d[i:]
		switch t.dt {
		case dtBool:
			dst = strconv.AppendBool(dst, e[0] != 0)
		case dtUint8:
			dst = strconv.AppendUint(dst, uint64(e[0]), 10)
		case dtUint16:
			dst = strconv.AppendUint(dst, uint64(le.Uint16(e)), 10)
		case dtUint32:
			dst = strconv.AppendUint(dst, uint64(le.Uint32(e)), 10)
		case dtUint64:
			dst = strconv.AppendUint(dst, le.Uint64(e), 10)
		case dtInt8:
			dst = strconv.AppendInt(dst, int64(int8(e[0])), 10)
		case dtInt16:
			dst = strconv.AppendInt(dst, int64(int16(le.Uint16(e))), 10)
		case dtInt32:
			dst = strconv.AppendInt(dst, int64(int32(le.Uint32(e))), 10)
		case dtInt64:
			dst = strconv.AppendInt(dst, int64(le.Uint64(e)), 10)
		case dtFP16:
			dst = appendJSONFloat(dst, float64(fp16ToFloat32(le.Uint16(e))), 32)
		case dtBF16:
			dst = appendJSONFloat(dst, float64(bf16ToFloat32(le.Uint16(e))), 32)
		case dtFP32:
			dst = appendJSONFloat(dst, float64(math.Float32frombits(le.Uint32(e))), 32)
		case dtFP64:
			dst = appendJSONFloat(dst, math.Float64frombits(le.Uint64(e)), 64)
		}
	}
	return append(dst, ']')
}

// appendShape appends a shape as a JSON array.
func appendShape(dst []byte, shape []int64) []byte {
	dst = append(dst, '[')
	for i, d := range shape {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, d, 10)
	}
	return append(dst, ']')
}

// appendProtoJSON appends m in the JSON form Triton serves for model
// metadata, config and statistics: proto field names, every field present
// (zero values too), 64-bit integers as JSON numbers (protojson would quote
// them), enums by name, and fields in declaration order. A oneof emits only
// its set member and an unset message field is left out.
func appendProtoJSON(dst []byte, m protoreflect.Message) []byte {
	dst = append(dst, '{')
	fields := m.Descriptor().Fields()
	first := true
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if (fd.ContainingOneof() != nil || fd.Message() != nil && !fd.IsList() && !fd.IsMap()) && !m.Has(fd) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, string(fd.Name()))
		dst = append(dst, ':')
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			dst = append(dst, '[')
			for j := 0; j < l.Len(); j++ {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendProtoValue(dst, fd, l.Get(j))
			}
			dst = append(dst, ']')
		case fd.IsMap():
			dst = appendProtoMap(dst, fd, v.Map())
		default:
			dst = appendProtoValue(dst, fd, v)
		}
	}
	return append(dst, '}')
}

// appendProtoMap writes a map with its keys sorted, so output is stable.
func appendProtoMap(dst []byte, fd protoreflect.FieldDescriptor, mp protoreflect.Map) []byte {
	keys := make([]string, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k.String())
		return true
	})
	slices.Sort(keys)
	dst = append(dst, '{')
	for j, k := range keys {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendProtoValue(dst, fd.MapValue(), mp.Get(protoreflect.ValueOfString(k).MapKey()))
	}
	return append(dst, '}')
}

func appendProtoValue(dst []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(dst, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(dst, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(dst, v.Uint(), 10)
	case protoreflect.FloatKind:
		return appendJSONFloat(dst, v.Float(), 32)
	case protoreflect.DoubleKind:
		return appendJSONFloat(dst, v.Float(), 64)
	case protoreflect.StringKind:
		return appendJSONString(dst, v.String())
	case protoreflect.BytesKind:
		return appendJSONString(dst, base64.StdEncoding.EncodeToString(v.Bytes()))
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendJSONString(dst, string(ev.Name()))
		}
		return strconv.AppendInt(dst, int64(v.Enum()), 10)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendProtoJSON(dst, v.Message())
	}
	return append(dst, "null"...)
}
