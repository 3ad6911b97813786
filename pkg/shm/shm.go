// Package shm creates and maps POSIX shared memory objects the way Triton's
// system shared-memory extension expects them: a key such as "/perfgo_12_0"
// names the object /dev/shm/perfgo_12_0 (what shm_open would open), and both
// the client (Create) and the server (Open) map it shared and read-write.
//
// A Region's bytes are valid until Close; using the slice from Bytes after
// Close faults. Keys name one path component: "/name" or "name", no other
// slash, no "." or "..".
package shm

import (
	"errors"
	"fmt"
	"strings"
)

// Dir is where Linux keeps POSIX shared memory objects.
const Dir = "/dev/shm"

// Region is one mapped shared memory object.
type Region struct {
	key  string
	fd   int
	data []byte
}

// Key is the key the region was created or opened with.
func (r *Region) Key() string { return r.key }

// Size is the mapped size in bytes (0 after Close).
func (r *Region) Size() int64 { return int64(len(r.data)) }

// Bytes is the whole mapped object. The slice must not be used after Close.
func (r *Region) Bytes() []byte { return r.data }

// Slice returns the n bytes at off, or an error naming the region's size
// when they are not all inside it.
func (r *Region) Slice(off, n uint64) ([]byte, error) {
	size := uint64(len(r.data))
	if off > size || n > size-off {
		return nil, fmt.Errorf("shared memory %q: %d bytes at offset %d do not fit its %d bytes", r.key, n, off, size)
	}
	return r.data[off : off+n : off+n], nil
}

// ErrBadKey reports a key that cannot name a shared memory object.
var ErrBadKey = errors.New("bad shared memory key")

// path turns a key into the object's path under Dir.
func path(key string) (string, error) {
	name := strings.TrimPrefix(key, "/")
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || len(name) > 255 {
		return "", fmt.Errorf("%w %q: use \"/name\" with one path component (e.g. \"/perfgo_<pid>_<n>\")", ErrBadKey, key)
	}
	return Dir + "/" + name, nil
}
