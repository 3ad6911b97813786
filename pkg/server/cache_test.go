package server

import (
	"testing"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// TestResponseCacheEviction: the cache stays within its byte limit by
// evicting the least recently used entry, keeps copies of the outputs,
// and tells requests apart by every part of the key.
func TestResponseCacheEviction(t *testing.T) {
	req := func(name string, data []byte, shape []int64, outputs ...string) *request {
		r := &request{inputs: []tensor{{name: name, dt: datatype.FP32, shape: shape, data: data}}}
		for _, o := range outputs {
			r.outputs = append(r.outputs, outputRequest{name: o})
		}
		return r
	}
	c := newResponseCache(300)
	keys := map[string]bool{}
	for _, r := range []*request{
		req("A", []byte{1, 2, 3, 4}, []int64{1, 1}),
		req("B", []byte{1, 2, 3, 4}, []int64{1, 1}),
		req("A", []byte{1, 2, 3, 5}, []int64{1, 1}),
		req("A", []byte{1, 2, 3, 4}, []int64{1, 1}, "OUTPUT0"),
		req("A", []byte{1, 2, 3, 4, 1, 2, 3, 4}, []int64{1, 2}),
		req("A", []byte{1, 2, 3, 4, 1, 2, 3, 4}, []int64{2, 1}),
	} {
		keys[string(c.key(r))] = true
	}
	if len(keys) != 6 {
		t.Fatalf("%d distinct keys for 6 different requests", len(keys))
	}

	out := func(b byte) *response {
		data := make([]byte, 100)
		data[0] = b
		return &response{outputs: []tensor{{name: "OUTPUT0", dt: datatype.FP32, shape: []int64{1, 25}, data: data}}}
	}
	first := out(1)
	c.put([]byte("k1"), first)
	first.outputs[0].data[0] = 99 // the request's buffer is reused: the cache must not see it
	c.put([]byte("k2"), out(2))
	var res response
	if !c.get([]byte("k1"), &res) || res.outputs[0].data[0] != 1 {
		t.Fatalf("k1: %v; want the first output as it was cached", res.outputs)
	}
	c.put([]byte("k3"), out(3)) // over 300 bytes: k2, the least recently used, goes
	if c.get([]byte("k2"), &res) || !c.get([]byte("k1"), &res) || !c.get([]byte("k3"), &res) || c.size > c.limit {
		t.Errorf("after eviction: k2 kept %v, size %d of %d; want k2 evicted, k1 and k3 kept", c.get([]byte("k2"), &res), c.size, c.limit)
	}
	c.put([]byte("huge"), &response{outputs: []tensor{{data: make([]byte, 1000)}}})
	if c.get([]byte("huge"), &res) || !c.get([]byte("k1"), &res) {
		t.Error("an entry larger than the cache was kept, or evicted the others")
	}
}
