//go:build !linux

package client

import "net"

// newSysConn returns nc: raw syscalls are used on Linux only (see
// sysconn_linux.go).
func newSysConn(nc net.Conn) net.Conn { return nc }
