package server

import (
	"bytes"
	"fmt"
	"testing"
)

func TestHeaderCache(t *testing.T) {
	hdr := []byte(`{"inputs":[{"name":"A","shape":[1,2],"datatype":"INT32","parameters":{"binary_data_size":8}},` +
		`{"name":"B","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":5}}],"outputs":[{"name":"O","parameters":{"binary_data":true}}]}`)
	decode := func(c *headerCache, hdr, bin []byte) (request, bool) {
		t.Helper()
		var r request
		if c.apply(hdr, bin, &r) {
			return r, true
		}
		if err := decodeJSONRequest(hdr, bin, &r); err != nil {
			t.Fatalf("decode: %v", err)
		}
		c.add(hdr, &r)
		return r, false
	}
	c := &headerCache{max: 2}
	bin1 := []byte("AAAABBBB\x01\x00\x00\x00x")
	bin2 := []byte("CCCCDDDD\x01\x00\x00\x00y")
	r1, hit := decode(c, hdr, bin1)
	if hit {
		t.Fatal("first request hit an empty cache")
	}
	r2, hit := decode(c, hdr, bin2)
	if !hit {
		t.Fatal("the same header again missed the cache")
	}
	for i := range r1.inputs {
		a, b := r1.inputs[i], r2.inputs[i]
		if a.name != b.name || a.dt != b.dt || fmt.Sprint(a.shape) != fmt.Sprint(b.shape) {
			t.Errorf("input %d: cached %+v, decoded %+v", i, b, a)
		}
	}
	if !bytes.Equal(r2.inputs[0].data, bin2[:8]) || !bytes.Equal(r2.inputs[1].data, bin2[8:]) {
		t.Errorf("cached request took data %q %q, want it from the new body", r2.inputs[0].data, r2.inputs[1].data)
	}
	if len(r2.outputs) != 1 || r2.outputs[0].binary != 1 || r2.binaryInputs != 2 {
		t.Errorf("cached outputs %+v, binaryInputs %d", r2.outputs, r2.binaryInputs)
	}
	// A body of another length is not this template: decode properly (and fail).
	var r3 request
	if c.apply(hdr, bin1[:5], &r3) {
		t.Error("template applied to a body of the wrong length")
	}

	// Per-request identities and JSON data are never cached.
	for _, h := range []string{
		`{"id":"x","inputs":[{"name":"A","shape":[1],"datatype":"INT32","parameters":{"binary_data_size":4}}]}`,
		`{"parameters":{"sequence_id":5},"inputs":[{"name":"A","shape":[1],"datatype":"INT32","parameters":{"binary_data_size":4}}]}`,
		`{"inputs":[{"name":"A","shape":[1],"datatype":"INT32","parameters":{"binary_data_size":4}},{"name":"B","shape":[1],"datatype":"INT32","data":[1]}]}`,
	} {
		decode(c, []byte(h), []byte("1234"))
		if _, hit := decode(c, []byte(h), []byte("1234")); hit {
			t.Errorf("header was cached: %s", h)
		}
	}
	// The cache stops at max entries.
	for i := range 5 {
		decode(c, []byte(fmt.Sprintf(`{"inputs":[{"name":"A%d","shape":[1],"datatype":"INT32","parameters":{"binary_data_size":4}}]}`, i)), []byte("1234"))
	}
	if n := len(*c.m.Load()); n != 2 {
		t.Errorf("cache holds %d headers, want its max of 2", n)
	}
}
