// Package client talks the KServe v2 / Open Inference Protocol, with
// Triton's extensions, over gRPC and HTTP behind one interface.
//
// A request is prepared once (Prepare encodes it) and then sent many times
// by every worker, each through its own Call (Prepared.NewCall), which
// shares the encoding read-only; Cycle sends several prepared requests in
// turn. The per-request path allocates no more than the transport itself
// needs, also when responses are compared with InferRequest.Expected.
package client

import (
	"context"
	"time"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// Protocol selects the transport.
type Protocol string

const (
	HTTP Protocol = "http"
	GRPC Protocol = "grpc"
)

// Client is one connection pool to one v2 server. It is safe for concurrent
// use; the Calls it makes are not (one Call per worker).
type Client interface {
	ServerLive(ctx context.Context) (bool, error)
	ServerReady(ctx context.Context) (bool, error)
	ServerMetadata(ctx context.Context) (*inferencepb.ServerMetadataResponse, error)
	ModelReady(ctx context.Context, model, version string) (bool, error)
	ModelMetadata(ctx context.Context, model, version string) (*inferencepb.ModelMetadataResponse, error)
	ModelConfig(ctx context.Context, model, version string) (*inferencepb.ModelConfig, error)
	// ModelStatistics returns cumulative statistics; empty model means all models.
	ModelStatistics(ctx context.Context, model, version string) (*inferencepb.ModelStatisticsResponse, error)
	RepositoryIndex(ctx context.Context, readyOnly bool) (*inferencepb.RepositoryIndexResponse, error)
	// Prepare validates and encodes req once; the result is shared,
	// read-only, by every Call made from it.
	Prepare(req *InferRequest) (Prepared, error)
	// NewCall validates and encodes req once, for repeated sending by one
	// goroutine: Prepare, then Prepared.NewCall.
	NewCall(req *InferRequest) (Call, error)
	Close() error
}

// Prepared is an encoded request. NewCall is cheap: the Call shares the
// encoding and has its own buffers and connection state; Calls are used by
// one goroutine each, a Prepared by many.
//
// A worker sending many different requests holds one Prepared per request
// (built once, for all workers) and cycles through them with Cycle, so
// that memory grows with the requests, not with the concurrency.
type Prepared interface {
	NewCall() (Call, error)
}

// Call is one prepared inference request, sent as often as needed by one
// goroutine. It is not safe for concurrent use.
type Call interface {
	// Do sends the request once and waits for the complete response.
	// A failed request returns an *Error (see Class).
	Do(ctx context.Context) (Timing, error)
	// Response decodes the latest response. It allocates: for checks and
	// tests, not for the measured path.
	Response() (*InferResponse, error)
}

// Timing is the client library's split of one request.
type Timing struct {
	// Send is the time spent encoding/writing the request, Recv the time
	// spent reading/decoding the response; the rest of Total was waiting.
	// On a stream Total ends at the request's final response.
	Send, Recv, Total time.Duration

	// The fields below are filled by stream Calls (PrepareStream) only.

	// First is the time from the start of Do to the first response that
	// carried outputs (to the final response when none did).
	First time.Duration
	// Responses counts the responses that carried outputs; an empty final
	// response (triton_final_response alone) is not one.
	Responses int
	// Elements counts the elements of the BYTES (text) outputs of those
	// responses: one per string, so a token when a server streams one
	// token per response. 0 when the model has no BYTES output.
	Elements int64
	// Gaps are the times between consecutive responses that carried
	// outputs (Responses-1 of them). The slice belongs to the Call and is
	// overwritten by its next Do.
	Gaps []time.Duration
}

// StreamPreparer prepares requests that are answered by a stream of
// responses: gRPC ModelStreamInfer (one stream per Call, opened by its
// first Do and again after a failure; the request asks for
// triton_enable_empty_final_response) or HTTP's generate extension
// (POST .../generate_stream, server-sent events). Each Do sends one
// request and returns at its final response, with Timing's stream fields
// filled. *GRPCClient and *HTTPClient implement it.
type StreamPreparer interface {
	PrepareStream(req *InferRequest) (Prepared, error)
}

// Connector is a Call that can open its connection ahead of its first
// request, so that no request waits for a dial. Calls of perfgo's own
// gRPC transport (h2) and of HTTP over fasthttp implement it, and
// Cycle's when its Call does. A failure is returned, but the next Do
// dials again and reports its own.
type Connector interface {
	Connect(ctx context.Context) error
}

// Sequence is what one request of a stateful model carries: Triton's
// sequence_id (a uint64, or its decimal text when the model's
// correlation id is a string) and the sequence_start / sequence_end flags.
type Sequence struct {
	ID       uint64
	StringID bool
	Start    bool
	End      bool
}

// Sequencer is a Call that sends sequence parameters. SetSequence sets
// the parameters of the following Do calls until the next SetSequence,
// without allocating (apart from growing scratch on a first use). Every
// Call made by perfgo's clients, Cycle's included, implements it.
type Sequencer interface {
	SetSequence(s Sequence)
}

// Tensor is a named tensor with raw little-endian row-major contents.
// BYTES elements are each a 4-byte little-endian length followed by the bytes.
type Tensor struct {
	Name     string
	Datatype string
	Shape    []int64
	Data     []byte
	// Parameters are tensor-level parameters (bool, int64, uint64, float64 or string).
	Parameters map[string]any
}

// InferRequest is what a worker sends.
type InferRequest struct {
	Model   string
	Version string
	ID      string
	Inputs  []Tensor
	// Outputs names the outputs to return; empty asks for all of them.
	Outputs []string
	// OutputParams are parameters of requested outputs, by name (each
	// must be in Outputs): e.g. ParamSharedMemoryRegion and
	// ParamSharedMemoryByteSize place the output in a registered region,
	// and the server then answers with the output's placement and no
	// data. Sent as the output's "parameters" on HTTP and as
	// InferRequestedOutputTensor.parameters on gRPC. An output in shared
	// memory cannot be among Expected.
	OutputParams map[string]map[string]any
	// Parameters are request-level parameters (bool, int64, uint64, float64
	// or string), e.g. sequence_id, sequence_start, sequence_end.
	Parameters map[string]any
	// Expected are outputs every response must carry byte for byte (raw
	// contents as Tensor.Data; Shape and Datatype must describe them, and
	// only the contents are compared). A response that differs fails with
	// an *Error of Kind ErrValidation. With Outputs set, each must be
	// among them. Binary outputs (HTTP binary, gRPC raw contents) are
	// compared in place, without allocating; outputs the server sends as
	// JSON "data" or as gRPC contents are decoded first, which allocates.
	// Not checked on a Stream.
	Expected []Tensor
}

// InferResponse is a decoded response.
type InferResponse struct {
	Model      string
	Version    string
	ID         string
	Outputs    []Tensor
	Parameters map[string]any
}
