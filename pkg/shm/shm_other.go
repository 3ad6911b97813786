//go:build !linux

package shm

import "errors"

var errUnsupported = errors.New("system shared memory is supported on Linux only")

// Create is not supported on this system.
func Create(key string, size int64) (*Region, error) { return nil, errUnsupported }

// Open is not supported on this system.
func Open(key string) (*Region, error) { return nil, errUnsupported }

// Close does nothing on this system.
func (r *Region) Close() error { return nil }

// Unlink is not supported on this system.
func (r *Region) Unlink() error { return errUnsupported }
