//go:build linux

package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"testing"
)

var seq atomic.Int64

// testKey is a key no other test or process uses.
func testKey(t *testing.T) string {
	k := fmt.Sprintf("/perfgo_test_%d_%d", os.Getpid(), seq.Add(1))
	t.Cleanup(func() { _ = os.Remove(Dir + k) })
	return k
}

func TestShmCreateOpenShare(t *testing.T) {
	key := testKey(t)
	c, err := Create(key, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Size() != 100 || c.Key() != key {
		t.Fatalf("size %d key %q", c.Size(), c.Key())
	}
	s, err := Open(key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Size() != 100 {
		t.Fatalf("opened size %d, want 100", s.Size())
	}
	copy(c.Bytes()[10:], "hello")
	b, err := s.Slice(10, 5)
	if err != nil || string(b) != "hello" {
		t.Fatalf("server sees %q, %v", b, err)
	}
	copy(b, "HELLO") // and back
	if got := string(c.Bytes()[10:15]); got != "HELLO" {
		t.Fatalf("client sees %q", got)
	}
	if _, err := Create(key, 10); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v, want an error that Is fs.ErrExist", err)
	}
	if err := c.Unlink(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unlink(); err != nil {
		t.Fatalf("second Unlink: %v", err)
	}
	if _, err := Open(key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open after Unlink: %v, want fs.ErrNotExist", err)
	}
	// Mappings outlive the name.
	if got := string(s.Bytes()[10:15]); got != "HELLO" {
		t.Fatalf("after unlink %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil || s.Size() != 0 || s.Bytes() != nil {
		t.Fatalf("second Close: %v, size %d", err, s.Size())
	}
}

func TestShmSliceBounds(t *testing.T) {
	r, err := Create(testKey(t), 16)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		off, n uint64
		ok     bool
	}{
		{0, 16, true}, {16, 0, true}, {8, 8, true}, {0, 0, true},
		{0, 17, false}, {17, 0, false}, {8, 9, false}, {1, ^uint64(0), false}, {^uint64(0), 2, false},
	} {
		b, err := r.Slice(c.off, c.n)
		if (err == nil) != c.ok || (c.ok && uint64(len(b)) != c.n) {
			t.Errorf("Slice(%d, %d) = %d bytes, %v; want ok=%v", c.off, c.n, len(b), err, c.ok)
		}
		if c.ok && cap(b) != len(b) {
			t.Errorf("Slice(%d, %d) has room to grow into the rest of the region", c.off, c.n)
		}
	}
}

func TestShmBadKeysAndSizes(t *testing.T) {
	for _, k := range []string{"", "/", "/a/b", "..", "/..", "a\x00b"} {
		if _, err := Create(k, 8); !errors.Is(err, ErrBadKey) {
			t.Errorf("Create(%q): %v, want ErrBadKey", k, err)
		}
		if _, err := Open(k); !errors.Is(err, ErrBadKey) {
			t.Errorf("Open(%q): %v, want ErrBadKey", k, err)
		}
	}
	key := testKey(t)
	for _, n := range []int64{0, -1} {
		if _, err := Create(key, n); err == nil {
			t.Errorf("Create size %d: no error", n)
		}
	}
	if _, err := os.Stat(Dir + key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed Create left %s behind: %v", Dir+key, err)
	}
	// An empty object (created by someone else) cannot be mapped.
	if err := os.WriteFile(Dir+key, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(key); err == nil {
		t.Error("Open of an empty object: no error")
	}
	// Keys without the leading slash name the same object.
	if err := os.Remove(Dir + key); err != nil {
		t.Fatal(err)
	}
	r, err := Create(key[1:], 8)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o, err := Open(key)
	if err != nil {
		t.Fatal(err)
	}
	_ = o.Close()
}
