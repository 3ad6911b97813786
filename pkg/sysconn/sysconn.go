// Package sysconn reads and writes TCP connections with raw syscalls made
// inside the netpoller's callbacks, so that a busy connection does not
// wake the Go runtime's monitor thread on every call (see Wrap). perfgo's
// own transports (h2, fasthttp) dial with it and `perfgo serve` accepts
// with it.
package sysconn

import "net"

// Listener returns ln with every accepted connection wrapped by Wrap.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}
