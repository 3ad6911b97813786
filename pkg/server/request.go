package server

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// errKind classifies a failed call; each front end maps it to its own status
// (HTTP code, gRPC code) so that both report the same failure the same way.
type errKind uint8

const (
	kindInvalid     errKind = iota + 1 // the request is wrong: 400 / InvalidArgument
	kindNotFound                       // unknown model or version: 404 / NotFound
	kindUnavailable                    // not ready or shutting down: 503 / Unavailable
	kindUnsupported                    // a feature perfgo serve does not implement: 400 / Unimplemented
	kindInternal                       // a bug in this server: 500 / Internal
	kindExists                         // a name already registered: 400 / AlreadyExists
)

// callError is an error with a kind. Its message is the one line the client sees.
type callError struct {
	kind errKind
	msg  string
}

func (e *callError) Error() string { return e.msg }

func errorf(k errKind, format string, args ...any) error {
	return &callError{kind: k, msg: fmt.Sprintf(format, args...)}
}

// kindOf returns the kind of err, kindInternal for untyped errors.
func kindOf(err error) errKind {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.kind
	}
	return kindInternal
}

// tensor is one named tensor in raw little-endian row-major form. BYTES
// elements are 4-byte little-endian length prefixed.
type tensor struct {
	name  string
	dt    datatype.Type
	shape []int64
	data  []byte
	// shm places the tensor in a shared memory region: an input's data is
	// read from it, an output's was written to it (and data is nil).
	shm *shmRef
}

// outputRequest names one requested output. binary is the HTTP front end's
// choice of encoding (-1 unset, 0 JSON, 1 binary); gRPC ignores it.
type outputRequest struct {
	name   string
	binary int8
	shm    *shmRef // write the output into this shared memory region
}

// sequenceID is Triton's correlation id: an unsigned integer or a string.
type sequenceID struct {
	num uint64
	str string
}

func (s sequenceID) isZero() bool { return s.num == 0 && s.str == "" }

// key is the id as Triton prints it: the number in decimal, or the string.
func (s sequenceID) key() string {
	if s.str != "" {
		return s.str
	}
	return strconv.FormatUint(s.num, 10)
}

func (s sequenceID) String() string {
	if s.str != "" {
		return fmt.Sprintf("%q", s.str)
	}
	return fmt.Sprint(s.num)
}

// request is the one internal form both front ends decode into.
type request struct {
	modelName, version string
	id                 string
	inputs             []tensor
	// outputs are the requested outputs; nil means all of the model's outputs.
	outputs []outputRequest

	seqID            sequenceID
	seqStart, seqEnd bool
	enableEmptyFinal bool
	// maxTokens is the max_tokens request parameter (0: not given), for
	// the generate model.
	maxTokens int64
	// oneResponse is the request parameter stream=false: a streaming model
	// answers with a single response holding everything.
	oneResponse bool
	// binaryOutputs is the HTTP request-level binary_data_output parameter.
	binaryOutputs bool
	// grpcParams (gRPC) or jsonHeader (HTTP, the JSON header they are in,
	// decoded only then) give the request-level parameters to a model that
	// echoes them (the identity models). Both alias the request.
	grpcParams map[string]*inferencepb.InferParameter
	jsonHeader []byte
	// shmInputs, shmOutputs: some input or requested output names a shared
	// memory region.
	shmInputs, shmOutputs bool

	// received is when the front end got the request: the start of the
	// success/fail duration.
	received time.Time
	// batch is the batch size (first dim) when the model batches, else 1;
	// set by validation.
	batch int
	// binaryInputs counts inputs whose data came from the HTTP binary
	// section; set by decodeJSONRequest.
	binaryInputs int
	// times are the phases the backend measured (part of the request so
	// that they cost no allocation of their own).
	times phaseTimes
}

// response is one inference response. final is meaningful for decoupled
// models only (the triton_final_response parameter).
type response struct {
	outputs []tensor
	final   bool
	// hasFinal says whether to send the triton_final_response parameter.
	hasFinal bool
	// echoParams: answer with the request's parameters (those the front
	// end does not act on itself).
	echoParams bool
	// buf backs outputs for models with few outputs, sparing an allocation.
	buf [2]tensor
}

// resizeTensors returns s with length n, reusing its array when it can.
func resizeTensors(s []tensor, n int) []tensor {
	if cap(s) < n {
		return make([]tensor, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// wantsOutput reports whether output name is requested (all are, when none
// is named).
func (r *request) wantsOutput(name string) bool {
	if r.outputs == nil {
		return true
	}
	for i := range r.outputs {
		if r.outputs[i].name == name {
			return true
		}
	}
	return false
}

// input returns the named input, or nil.
func (r *request) input(name string) *tensor {
	for i := range r.inputs {
		if r.inputs[i].name == name {
			return &r.inputs[i]
		}
	}
	return nil
}
