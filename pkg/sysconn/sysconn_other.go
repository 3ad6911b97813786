//go:build !linux

package sysconn

import "net"

// Wrap returns nc: raw syscalls are used on Linux only (see
// sysconn_linux.go).
func Wrap(nc net.Conn) net.Conn { return nc }
