package sysconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// sysConn is a TCP connection read and written with raw syscalls inside
// the netpoller's RawConn callbacks. Go's sockets are non-blocking, so
// these calls never block, and the netpoller still does the waiting,
// deadlines and closing. Made the usual way (syscall.Read and Write),
// each call enters the scheduler's syscall state, and entering it wakes
// the runtime's monitor thread (sysmon) whenever every P had been idle,
// which at concurrency 1 is every request: the monitor then sleeps 20 µs
// and looks again, more context switches per request. Against the C++
// HTTP server at concurrency 1 (3 interleaved rounds of a bare loop) that
// was 2.2-2.5 context switches per request instead of 1.0 for wrk, 39-52
// µs of CPU per request instead of 24 and 0.75-0.85x wrk's throughput;
// raw syscalls gave 1.0 switch, 24-27 µs and wrk's throughput.
type sysConn struct {
	*net.TCPConn
	rc syscall.RawConn

	// The callbacks' arguments and results, one set for reads and one
	// for writes (a net.Conn may be read and written at once), each held
	// under its lock for the whole call: a net.Conn may also be read by
	// two goroutines at once (net/http's server does), and the socket's
	// own lock is only taken inside the RawConn call. Uncontended on a
	// client's connection.
	rmu     sync.Mutex
	rbuf    []byte
	rn      int
	rerr    syscall.Errno
	readFn  func(fd uintptr) bool
	wmu     sync.Mutex
	wbuf    []byte
	wn      int
	werr    syscall.Errno
	writeFn func(fd uintptr) bool
}

// Wrap returns nc read and written with raw syscalls when it is a TCP
// connection, and nc itself otherwise.
func Wrap(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	c := &sysConn{TCPConn: tc, rc: rc}
	// Made once: a method value or closure per call would allocate.
	c.readFn = c.readOnce
	c.writeFn = c.writeAll
	return c
}

// readOnce reads what has arrived; false asks the netpoller to wait
// until the socket is readable and call again.
func (c *sysConn) readOnce(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.rbuf))), uintptr(len(c.rbuf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rn, c.rerr = int(n), e
		return true
	}
}

// writeAll writes the rest of wbuf; false asks the netpoller to wait
// until the socket is writable and call again. MSG_NOSIGNAL: a peer that
// has gone makes the call fail with EPIPE instead of raising SIGPIPE.
func (c *sysConn) writeAll(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		rest := c.wbuf[c.wn:]
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)), syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			c.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werr = e
			return true
		}
	}
	return true
}

func (c *sysConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	c.rbuf, c.rn, c.rerr = b, 0, 0
	err := c.rc.Read(c.readFn)
	n, errno := c.rn, c.rerr
	c.rbuf = nil
	c.rmu.Unlock()
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *sysConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	c.wbuf, c.wn, c.werr = b, 0, 0
	err := c.rc.Write(c.writeFn)
	n, errno := c.wn, c.werr
	c.wbuf = nil
	c.wmu.Unlock()
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case errno != 0:
		return n, c.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
}

// opError words err as the net package's own Read and Write do (a
// RawConn says "raw-read" and "raw-write").
func (c *sysConn) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
