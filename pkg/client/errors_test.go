package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestGRPCErrorClass(t *testing.T) {
	tests := []struct {
		code      codes.Code
		msg       string
		kind      error
		class     string
		wantInMsg string
	}{
		{codes.NotFound, "Request for unknown model: 'x' is not found", ErrModelNotFound, "grpc:NOT_FOUND", "unknown model"},
		{codes.InvalidArgument, "unexpected shape for input 'INPUT0'", ErrBadRequest, "grpc:INVALID_ARGUMENT", "unexpected shape"},
		{codes.InvalidArgument, "Request for unknown model: 'x'", ErrModelNotFound, "grpc:INVALID_ARGUMENT", ""},
		{codes.Unavailable, "model 'x' is not ready", ErrModelNotReady, "grpc:UNAVAILABLE", ""},
		{codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`, ErrUnreachable, "unreachable", "refused"},
		{codes.DeadlineExceeded, "context deadline exceeded", ErrTimeout, "timeout", ""},
		{codes.Canceled, "context canceled", context.Canceled, "cancelled", ""},
		{codes.Unimplemented, "unknown method ModelConfig", ErrUnsupported, "grpc:UNIMPLEMENTED", ""},
		{codes.Internal, "boom", ErrServer, "grpc:INTERNAL", "boom"},
		{codes.ResourceExhausted, "too big", ErrServer, "grpc:RESOURCE_EXHAUSTED", ""},
		{codes.Code(99), "odd", ErrServer, "grpc:CODE_99", ""},
	}
	for _, tt := range tests {
		t.Run(tt.class+"/"+tt.msg, func(t *testing.T) {
			err := error(grpcError(context.Background(), "infer", status.Error(tt.code, tt.msg)))
			err = fmt.Errorf("wrapped: %w", err)
			if !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.kind)
			}
			if got := Class(err); got != tt.class {
				t.Errorf("Class = %q, want %q", got, tt.class)
			}
			var e *Error
			if !errors.As(err, &e) || e.Message != tt.msg {
				t.Errorf("errors.As: %v, message %q", e, tt.msg)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("message %q lacks %q", err, tt.wantInMsg)
			}
		})
	}
}

// A context that ended decides the class, whatever the transport said.
func TestGRPCErrorContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := grpcError(ctx, "infer", status.Error(codes.Unavailable, "x"))
	if !errors.Is(err, context.Canceled) || Class(err) != "cancelled" {
		t.Fatalf("cancelled ctx: %v, class %q", err, Class(err))
	}
}

func TestHTTPStatusError(t *testing.T) {
	tests := []struct {
		code     int
		body     string
		optional bool
		kind     error
		msg      string
	}{
		{400, `{"error":"unexpected shape for input 'INPUT0'"}`, false, ErrBadRequest, "unexpected shape for input 'INPUT0'"},
		{400, `{"error":"Request for unknown model: 'nope' is not found"}`, false, ErrModelNotFound, ""},
		{404, `{"error":"Request for unknown model: 'nope'"}`, false, ErrModelNotFound, ""},
		{404, `{"error":"Request for unknown model: 'nope'"}`, true, ErrModelNotFound, ""},
		{404, `404 page not found`, true, ErrUnsupported, "404 page not found"},
		{405, ``, true, ErrUnsupported, ""},
		{404, `404 page not found`, false, ErrModelNotFound, ""},
		{501, `{"error":"not implemented"}`, false, ErrUnsupported, ""},
		{503, `{"error":"model 'm' is not ready"}`, false, ErrModelNotReady, ""},
		{503, `overloaded`, false, ErrServer, "overloaded"},
		{500, `{"error":"internal"}`, false, ErrServer, "internal"},
		{504, ``, false, ErrTimeout, ""},
		{429, `{"error":"slow down"}`, false, ErrBadRequest, "slow down"},
	}
	for _, tt := range tests {
		err := httpStatusError("infer", tt.code, []byte(tt.body), tt.optional)
		if !errors.Is(err, tt.kind) {
			t.Errorf("%d %s (optional %v): kind %v, want %v", tt.code, tt.body, tt.optional, err.Kind, tt.kind)
		}
		if want := fmt.Sprintf("http:%d", tt.code); err.Class != want {
			t.Errorf("%d: class %q, want %q", tt.code, err.Class, want)
		}
		if tt.msg != "" && err.Message != tt.msg {
			t.Errorf("%d: message %q, want %q", tt.code, err.Message, tt.msg)
		}
	}
	long := strings.Repeat("x", 1000)
	if e := httpStatusError("x", 500, []byte(long), false); len(e.Message) > 210 {
		t.Errorf("a non-JSON body becomes a message of %d bytes; want it trimmed", len(e.Message))
	}
}

func TestTransportError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name  string
		err   error
		kind  error
		class string
	}{
		{"refused", refused, ErrUnreachable, "unreachable"},
		{"dns", &net.DNSError{Err: "no such host", Name: "nope.invalid"}, ErrUnreachable, "unreachable"},
		{"eof", io.EOF, ErrUnreachable, "unreachable"},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), ErrTimeout, "timeout"},
		{"cancel", context.Canceled, context.Canceled, "cancelled"},
		{"other", errors.New("strange"), ErrUnreachable, "unreachable"},
	}
	for _, tt := range tests {
		err := transportError(context.Background(), "GET /v2", tt.err)
		if !errors.Is(err, tt.kind) || err.Class != tt.class {
			t.Errorf("%s: %v (class %q), want kind %v class %q", tt.name, err, err.Class, tt.kind, tt.class)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: the transport error is not in the chain", tt.name)
		}
	}
}

func TestClass(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.DeadlineExceeded, "timeout"},
		{context.Canceled, "cancelled"},
		{errors.New("x"), "error"},
		{&Error{Kind: ErrServer, Class: "http:500"}, "http:500"},
	}
	for _, tt := range tests {
		if got := Class(tt.err); got != tt.want {
			t.Errorf("Class(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	e := &Error{Op: `infer "m"`, Kind: ErrModelNotFound, Class: "http:404", Message: "unknown model"}
	if got, want := e.Error(), `infer "m": model not found: unknown model (check the model name and version against the server's repository)`; got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
	e = &Error{Op: "GET /v2", Kind: ErrUnreachable, Class: "unreachable", Err: io.EOF}
	if got := e.Error(); !strings.Contains(got, "EOF") || !strings.Contains(got, "server is running") {
		t.Errorf("Error() = %q, want the cause and a hint", got)
	}
}
