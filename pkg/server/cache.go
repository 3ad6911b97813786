package server

import (
	"container/list"
	"encoding/binary"
	"sync"
)

// defaultCacheBytes bounds a model's response cache (keys and outputs).
const defaultCacheBytes = 64 << 20

// responseCache is Triton's response cache for one model: the outputs of
// a request keyed by everything that decides them (inputs and the outputs
// asked for), least recently used evicted beyond a byte limit. Cached
// outputs are copies, never the request buffers they came from, and are
// only read once cached.
type responseCache struct {
	mu      sync.Mutex
	limit   int
	size    int
	entries map[string]*list.Element
	lru     list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	key        string
	outputs    []tensor
	echoParams bool
	size       int
}

func newResponseCache(limit int) *responseCache {
	return &responseCache{limit: limit, entries: map[string]*list.Element{}}
}

// key encodes the request's inputs (name, datatype, shape, data) and
// requested outputs; requests with equal keys get equal responses. It is
// made into a string only to be stored (put): a lookup needs no copy.
func (c *responseCache) key(r *request) []byte {
	n := 0
	for i := range r.inputs {
		n += len(r.inputs[i].name) + len(r.inputs[i].data) + 8*len(r.inputs[i].shape) + 16
	}
	b := make([]byte, 0, n+32)
	str := func(s string) []byte {
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	for i := range r.inputs {
		in := &r.inputs[i]
		b = str(in.name)
		b = append(b, byte(in.dt))
		b = binary.AppendUvarint(b, uint64(len(in.shape)))
		for _, d := range in.shape {
			b = binary.AppendVarint(b, d)
		}
		b = binary.AppendUvarint(b, uint64(len(in.data)))
		b = append(b, in.data...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.outputs)))
	for i := range r.outputs {
		b = str(r.outputs[i].name)
	}
	return b
}

// get fills res from the response cached for key, if there is one.
func (c *responseCache) get(key []byte, res *response) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[string(key)]
	if !ok {
		return false
	}
	c.lru.MoveToFront(e)
	ce := e.Value.(*cacheEntry)
	res.outputs = append(res.buf[:0], ce.outputs...)
	res.echoParams = ce.echoParams
	return true
}

// put caches a copy of res under key, evicting the least recently used
// entries to stay within the limit; an entry larger than the whole cache
// is not kept.
func (c *responseCache) put(kb []byte, res *response) {
	outputs := res.outputs
	key := string(kb)
	size := len(key)
	for i := range outputs {
		size += len(outputs[i].data) + len(outputs[i].name) + 8*len(outputs[i].shape)
	}
	if size > c.limit {
		return
	}
	kept := make([]tensor, len(outputs))
	for i, t := range outputs {
		kept[i] = tensor{name: t.name, dt: t.dt, shape: append([]int64(nil), t.shape...), data: append([]byte(nil), t.data...)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		return // a concurrent miss on the same request cached it first
	}
	for c.size+size > c.limit {
		old := c.lru.Back()
		oe := old.Value.(*cacheEntry)
		c.lru.Remove(old)
		delete(c.entries, oe.key)
		c.size -= oe.size
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, outputs: kept, echoParams: res.echoParams, size: size})
	c.size += size
}
