package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kinds of failure. Every error a Client or Call returns for a request that
// reached (or tried to reach) the server is an *Error whose Kind is one of
// these, so errors.Is(err, client.ErrTimeout) works on both transports.
// A request cancelled by its context has Kind context.Canceled.
var (
	// ErrUnreachable: no connection (refused, DNS, TLS handshake, reset).
	ErrUnreachable = errors.New("server unreachable")
	// ErrModelNotFound: the server does not know the model (or version).
	ErrModelNotFound = errors.New("model not found")
	// ErrModelNotReady: the model exists but cannot serve yet.
	ErrModelNotReady = errors.New("model not ready")
	// ErrBadRequest: the server rejected the request; Message says why.
	ErrBadRequest = errors.New("bad request")
	// ErrTimeout: the per-request Timeout or the context deadline passed.
	ErrTimeout = errors.New("timeout")
	// ErrUnsupported: the server lacks the endpoint or extension
	// (model configuration, statistics, streaming, ...).
	ErrUnsupported = errors.New("not supported by the server")
	// ErrServer: the server failed (5xx, INTERNAL, or a malformed response).
	ErrServer = errors.New("server error")
	// ErrNotV2: something answered that does not speak HTTP or the v2
	// protocol at this address (garbage on the socket, or a 404 without a
	// v2 error body for a path every v2 server has).
	ErrNotV2 = errors.New("not a v2 inference server")
	// ErrResponseTooLarge: a response exceeded Options.MaxResponseSize.
	// Only that request fails.
	ErrResponseTooLarge = errors.New("response too large")
	// ErrValidation: the response is a valid v2 answer, but an output
	// differs from the one InferRequest.Expected gives.
	ErrValidation = errors.New("unexpected output")
	// ErrLocalResources: this process, not the server, ran out of file
	// descriptors, local ports or socket buffers.
	ErrLocalResources = errors.New("out of local resources")
)

// Error is a classified request failure.
type Error struct {
	// Op names what was attempted, e.g. `infer "simple"` or "GET /v2".
	Op string
	// Kind is one of the Err* sentinels (or context.Canceled).
	Kind error
	// Class is the status class reports count by:
	//   - "grpc:NOT_FOUND" etc.: the gRPC status code the server sent;
	//   - "http:400" etc.: the HTTP status the server sent;
	//   - "timeout": the request timeout or the context deadline passed;
	//   - "cancelled": the caller's context was cancelled;
	//   - "unreachable": no connection to the server;
	//   - "protocol": the answer is not a valid v2 response (not HTTP, not
	//     v2 JSON, outputs missing or of the wrong size);
	//   - "validation": an output differs from the expected one (Kind
	//     ErrValidation); Message names it and the first differing element;
	//   - "truncated": the server closed the connection mid-response;
	//   - "too_large": the response exceeded Options.MaxResponseSize;
	//   - "local:EMFILE", "local:ENFILE", "local:EADDRNOTAVAIL",
	//     "local:ENOBUFS": this process ran out of a resource (Kind
	//     ErrLocalResources);
	//   - "client": the request could not be built.
	Class string
	// Message is the server's own message when it sent one.
	Message string
	// Err is the underlying transport error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	} else if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if h := e.hint(); h != "" {
		b.WriteString(" (")
		b.WriteString(h)
		b.WriteString(")")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrX) match on Kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap exposes the transport error (e.g. context.DeadlineExceeded).
func (e *Error) Unwrap() error { return e.Err }

// hint says what to do about a failure: by class where the class is finer
// than the kind.
func (e *Error) hint() string {
	switch e.Class {
	case "truncated":
		return "the server closed the connection in the middle of a response"
	case "local:EADDRNOTAVAIL":
		return "perfgo ran out of local ports; lower the concurrency or --connections"
	case "local:ENOBUFS":
		return "the kernel ran out of socket buffers; lower the concurrency"
	}
	switch e.Kind {
	case ErrUnreachable:
		return "check the URL, the protocol and that the server is running"
	case ErrModelNotFound:
		return "check the model name and version against the server's repository"
	case ErrModelNotReady:
		return "wait for the model to load or check the server log"
	case ErrTimeout:
		return "raise the request timeout or lower the load"
	case ErrUnsupported:
		return "the server does not support this request"
	case ErrNotV2:
		return "the server at this address does not speak HTTP/v2: check -u and -i"
	case ErrValidation:
		return "the server answered, but not what the request's expected outputs say"
	case ErrResponseTooLarge:
		return "raise --max-response-size"
	case ErrLocalResources:
		return "perfgo ran out of file descriptors; raise ulimit -n or lower the concurrency"
	}
	return ""
}

// localErrnos are the errors of this machine running out of something,
// with the text gRPC puts in a status message instead of the errno. ENFILE
// comes before EMFILE: its text contains EMFILE's.
var localErrnos = []struct {
	errno syscall.Errno
	name  string
	text  string
}{
	{syscall.ENFILE, "ENFILE", "too many open files in system"},
	{syscall.EMFILE, "EMFILE", "too many open files"},
	{syscall.EADDRNOTAVAIL, "EADDRNOTAVAIL", "cannot assign requested address"},
	{syscall.ENOBUFS, "ENOBUFS", "no buffer space available"},
}

// localError classifies err as local resource exhaustion, by errno or
// (from gRPC) by message; nil if it is not.
func localError(op string, err error, msg string) *Error {
	lower := strings.ToLower(msg)
	for _, l := range localErrnos {
		if errors.Is(err, l.errno) || msg != "" && strings.Contains(lower, l.text) {
			return &Error{Op: op, Kind: ErrLocalResources, Class: "local:" + l.name, Message: msg, Err: err}
		}
	}
	return nil
}

// Class returns the status class of err for counting failures: the Class
// of an *Error, "timeout"/"cancelled" for bare context errors, "" for nil
// and "error" for anything else.
func Class(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Class
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error"
}

// grpcCodeNames spells codes in the upper-snake form of the gRPC spec.
var grpcCodeNames = [...]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

func grpcClass(c codes.Code) string {
	if int(c) < len(grpcCodeNames) {
		return "grpc:" + grpcCodeNames[c]
	}
	return "grpc:CODE_" + strconv.Itoa(int(c))
}

// Servers (Triton in particular) have changed which code they use for an
// unknown or unloaded model across releases, so the message decides too.
func modelKindFromMessage(msg string) error {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "unknown model"), strings.Contains(m, "model not found"),
		strings.Contains(m, "is not found"):
		return ErrModelNotFound
	case strings.Contains(m, "not ready"), strings.Contains(m, "no available versions"),
		strings.Contains(m, "unavailable model"):
		return ErrModelNotReady
	}
	return nil
}

// grpcError classifies an error returned by a gRPC call.
func grpcError(ctx context.Context, op string, err error) *Error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError(op, ctxErr, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return contextOr(op, err, ErrUnreachable, "unreachable")
	}
	e := &Error{Op: op, Class: grpcClass(st.Code()), Message: st.Message(), Err: err}
	switch st.Code() {
	case codes.DeadlineExceeded:
		e.Kind, e.Class = ErrTimeout, "timeout"
	case codes.Canceled:
		e.Kind, e.Class = context.Canceled, "cancelled"
	case codes.Unavailable:
		if le := localError(op, err, st.Message()); le != nil {
			return le
		}
		if modelKindFromMessage(st.Message()) == ErrModelNotReady {
			e.Kind = ErrModelNotReady
		} else {
			// grpc-go reports refused connections, DNS failures and failed
			// TLS handshakes as UNAVAILABLE with no server message.
			e.Kind, e.Class = ErrUnreachable, "unreachable"
		}
	case codes.NotFound:
		e.Kind = ErrModelNotFound
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition, codes.AlreadyExists:
		e.Kind = ErrBadRequest
		if k := modelKindFromMessage(st.Message()); k != nil {
			e.Kind = k
		}
	case codes.Unimplemented:
		e.Kind = ErrUnsupported
	case codes.ResourceExhausted:
		e.Kind = ErrServer
		// grpc-go's own check of MaxCallRecvMsgSize, on this side.
		if strings.Contains(st.Message(), "larger than max") {
			e.Kind, e.Class = ErrResponseTooLarge, "too_large"
		}
	default:
		e.Kind = ErrServer
	}
	return e
}

// httpStatusError classifies a non-200 HTTP answer. optional marks an
// extension endpoint (config, statistics, repository): a 404/405 there
// without a v2 error body means the server lacks the endpoint.
func httpStatusError(op string, code int, body []byte, optional bool) *Error {
	msg, isV2 := v2ErrorMessage(body)
	e := &Error{Op: op, Class: "http:" + strconv.Itoa(code), Message: msg}
	switch {
	case code == 501 || (optional && !isV2 && (code == 404 || code == 405)):
		e.Kind = ErrUnsupported
	case code == 404:
		e.Kind = ErrModelNotFound
	case code == 408 || code == 504:
		e.Kind = ErrTimeout
	case code >= 400 && code < 500:
		e.Kind = ErrBadRequest
		if k := modelKindFromMessage(msg); k != nil {
			e.Kind = k
		}
	case code == 503 && modelKindFromMessage(msg) == ErrModelNotReady:
		e.Kind = ErrModelNotReady
	default:
		e.Kind = ErrServer
	}
	return e
}

// v2ErrorMessage extracts the message of a v2 error body {"error": "..."};
// otherwise it returns the start of the body as text.
func v2ErrorMessage(body []byte) (msg string, isV2 bool) {
	var v struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error != nil {
		return *v.Error, true
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s, false
}

// transportError classifies an error from the HTTP transport (no status).
func transportError(ctx context.Context, op string, err error) *Error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError(op, ctxErr, err)
	}
	return contextOr(op, err, ErrUnreachable, "unreachable")
}

func contextError(op string, ctxErr, err error) *Error {
	if err == nil {
		err = ctxErr
	}
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		return &Error{Op: op, Kind: ErrTimeout, Class: "timeout", Err: err}
	}
	return &Error{Op: op, Kind: context.Canceled, Class: "cancelled", Err: err}
}

// contextOr classifies err by its own nature (timeouts, cancellation,
// local exhaustion, answers that are not HTTP, network failures) or falls
// back to kind/class.
func contextOr(op string, err, kind error, class string) *Error {
	var (
		ne  net.Error
		big *tooLargeError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &Error{Op: op, Kind: ErrTimeout, Class: "timeout", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Op: op, Kind: context.Canceled, Class: "cancelled", Err: err}
	case errors.As(err, &big):
		return &Error{Op: op, Kind: ErrResponseTooLarge, Class: "too_large", Message: big.Error(), Err: err}
	case errors.Is(err, errTruncated):
		return &Error{Op: op, Kind: ErrServer, Class: "truncated", Message: err.Error(), Err: err}
	case errors.Is(err, errNotHTTP):
		return &Error{Op: op, Kind: ErrNotV2, Class: "protocol", Message: err.Error(), Err: err}
	case errors.Is(err, errMalformed):
		return protocolError(op, err.Error(), err)
	}
	if le := localError(op, err, ""); le != nil {
		return le
	}
	if isNetworkError(err) {
		kind, class = ErrUnreachable, "unreachable"
	}
	return &Error{Op: op, Kind: kind, Class: class, Err: err}
}

func isNetworkError(err error) bool {
	var (
		opErr   *net.OpError
		dnsErr  *net.DNSError
		recErr  tls.RecordHeaderError
		certErr *tls.CertificateVerificationError
		alert   tls.AlertError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
	)
	return errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.As(err, &recErr) ||
		errors.As(err, &certErr) || errors.As(err, &alert) || errors.As(err, &unknown) ||
		errors.As(err, &host) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Transport errors the classifier recognizes, whichever transport saw them.
var (
	// errTruncated: the body ended before its framing said.
	errTruncated = errors.New("the response ends before its declared length")
	// errNotHTTP: the bytes on the socket are not an HTTP response.
	errNotHTTP = errors.New("the answer is not an HTTP response")
	// errMalformed: an HTTP response the client cannot read (headers too long).
	errMalformed = errors.New("malformed HTTP response")
)

// tooLargeError is a response over the limit; size is -1 when unknown
// (a chunked or read-until-close body, stopped at the limit).
type tooLargeError struct{ size, limit int64 }

func (e *tooLargeError) Error() string {
	if e.size < 0 {
		return fmt.Sprintf("the response exceeds the limit of %d bytes", e.limit)
	}
	return fmt.Sprintf("the response of %d bytes exceeds the limit of %d bytes", e.size, e.limit)
}

// protocolError reports a response the client cannot make sense of.
func protocolError(op, msg string, err error) *Error {
	return &Error{Op: op, Kind: ErrServer, Class: "protocol", Message: msg, Err: err}
}
