package server

import (
	"encoding/base64"
	"slices"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/perfgo/perfgo/pkg/datatype"
)

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
		dst = datatype.AppendJSONString(dst, string(fd.Name()))
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
		dst = datatype.AppendJSONString(dst, k)
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
		return datatype.AppendJSONFloat(dst, v.Float(), 32)
	case protoreflect.DoubleKind:
		return datatype.AppendJSONFloat(dst, v.Float(), 64)
	case protoreflect.StringKind:
		return datatype.AppendJSONString(dst, v.String())
	case protoreflect.BytesKind:
		return datatype.AppendJSONString(dst, base64.StdEncoding.EncodeToString(v.Bytes()))
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return datatype.AppendJSONString(dst, string(ev.Name()))
		}
		return strconv.AppendInt(dst, int64(v.Enum()), 10)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendProtoJSON(dst, v.Message())
	}
	return append(dst, "null"...)
}
