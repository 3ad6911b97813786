package servertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/server"
)

// processEnv makes a test binary run the reference server instead of its
// tests, so that a benchmark can count the client's allocations alone.
const processEnv = "PERFGO_SERVERTEST_PROCESS"

// ServeIfChild runs the server and exits when this process is the child
// started by StartProcess; call it first in TestMain.
func ServeIfChild() {
	if os.Getenv(processEnv) == "1" {
		os.Exit(serveChild())
	}
}

// serveChild serves on loopback, prints "httpAddr grpcAddr" and stops when
// stdin closes (the parent is done or gone).
func serveChild() int {
	s, err := server.New(server.Options{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := s.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s %s\n", s.HTTPAddr(), s.GRPCAddr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// StartProcess runs the reference server in a child process (this test
// binary re-executed; its TestMain must call ServeIfChild) and returns its
// HTTP and gRPC addresses; cleanup stops it and waits for it.
func StartProcess(tb testing.TB) (httpAddr, grpcAddr string) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), processEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close() // the child shuts down on EOF
		if err := cmd.Wait(); err != nil {
			tb.Errorf("server process: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("server process did not report its addresses: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		tb.Fatalf("server process said %q, want two addresses", line)
	}
	return f[0], f[1]
}
