package datatype

import (
	"strconv"
	"testing"
)

// The server encodes every JSON response output with AppendJSONLenient and
// decodes every JSON request input with DecodeJSONLenient: neither may
// allocate beyond the output buffer.

func BenchmarkAppendJSON(b *testing.B) {
	for _, dt := range []Type{Bool, Int32, Int64, FP16, FP32, FP64, Bytes} {
		data := sample(dt, 256)
		dst := AppendJSONLenient(nil, dt, data)
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendJSONLenient(dst[:0], dt, data)
			}
		})
		b.Run(dt.String()+"/strict", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = AppendJSON(dst[:0], dt, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	for _, dt := range []Type{Bool, Int32, Int64, FP16, FP32, FP64, Bytes} {
		raw, err := AppendJSON(nil, dt, sample(dt, 256))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecodeJSONLenient(dt, raw, 256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCheckData(b *testing.B) {
	for _, dt := range []Type{FP32, Bytes} {
		data, shape := sample(dt, 256), []int64{16, 16}
		b.Run(dt.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := CheckData(dt, shape, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, dt := range []Type{Bool, BF16} {
		name := dt.String()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, err := Parse(name); err != nil || got != dt {
					b.Fatal(strconv.Quote(name))
				}
			}
		})
	}
}
