//go:build linux

package shm

import (
	"errors"
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// Create makes a new shared memory object of size bytes (zero-filled) and
// maps it. It fails if the key exists: pick a key of your own (Triton's
// clients use e.g. "/<name>_<pid>"). Unlink it when done.
func Create(key string, size int64) (*Region, error) {
	p, err := path(key)
	if err != nil {
		return nil, err
	}
	if size <= 0 || uint64(size) > math.MaxInt {
		return nil, fmt.Errorf("shared memory %q: size %d; it must be positive", key, size)
	}
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "create shared memory", Path: p, Err: err}
	}
	fail := func(op string, err error) (*Region, error) {
		_ = unix.Close(fd)
		_ = unix.Unlink(p)
		return nil, &os.PathError{Op: op, Path: p, Err: err}
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		return fail("size shared memory", err)
	}
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("map shared memory", err)
	}
	return &Region{key: key, fd: fd, data: data}, nil
}

// Open maps an existing shared memory object whole, read-write. An
// unknown key is an error that Is fs.ErrNotExist.
func Open(key string) (*Region, error) {
	p, err := path(key)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open shared memory", Path: p, Err: err}
	}
	fail := func(err error) (*Region, error) {
		_ = unix.Close(fd)
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(&os.PathError{Op: "stat shared memory", Path: p, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fail(fmt.Errorf("shared memory %q: %s is not a regular file", key, p))
	}
	if st.Size <= 0 || uint64(st.Size) > math.MaxInt {
		return fail(fmt.Errorf("shared memory %q: %s has size %d; it must be created with a positive size", key, p, st.Size))
	}
	data, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(&os.PathError{Op: "map shared memory", Path: p, Err: err})
	}
	return &Region{key: key, fd: fd, data: data}, nil
}

// Close unmaps the region and closes its descriptor; the object itself
// stays (see Unlink). Closing twice is not an error.
func (r *Region) Close() error {
	var errs []error
	if r.data != nil {
		errs = append(errs, unix.Munmap(r.data))
		r.data = nil
	}
	if r.fd >= 0 {
		errs = append(errs, unix.Close(r.fd))
		r.fd = -1
	}
	return errors.Join(errs...)
}

// Unlink removes the object's name; mappings (this one and others') stay
// valid until closed. Unlinking an already removed object is not an error.
func (r *Region) Unlink() error {
	p, err := path(r.key)
	if err != nil {
		return err
	}
	if err := unix.Unlink(p); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlink shared memory", Path: p, Err: err}
	}
	return nil
}
