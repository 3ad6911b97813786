package server

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// grpcFrontend serves inference.GRPCInferenceService over the core.
type grpcFrontend struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	core *core
	meta *serverMeta
	// streamInFlight bounds the requests one ModelStreamInfer stream runs
	// at once; past it the stream stops reading until one finishes.
	streamInFlight int
	// exchanges holds *grpcExchange for reuse.
	exchanges sync.Pool
	// final holds the response parameters of decoupled responses.
	final *finalParams
}

// finalParams are the two triton_final_response parameter maps
// (false, true), built once and shared by every response: marshalling only
// reads them, and a streamed token then costs no map of its own.
type finalParams [2]map[string]*inferencepb.InferParameter

func newFinalParams() *finalParams {
	var f finalParams
	for i, v := range []bool{false, true} {
		f[i] = map[string]*inferencepb.InferParameter{
			"triton_final_response": {ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: v}},
		}
	}
	return &f
}

// grpcExchange is one ModelInfer call's decoded request and response,
// pooled; the response proto shares only tensor bytes and shapes with it,
// never the exchange itself.
type grpcExchange struct {
	req request
	res response
	in  [4]tensor
}

func (g *grpcFrontend) exchange() *grpcExchange {
	if ex, ok := g.exchanges.Get().(*grpcExchange); ok {
		return ex
	}
	return &grpcExchange{}
}

func (g *grpcFrontend) release(ex *grpcExchange) {
	ex.req, ex.res = request{}, response{}
	clear(ex.in[:])
	g.exchanges.Put(ex)
}

var _ inferencepb.GRPCInferenceServiceServer = (*grpcFrontend)(nil)

func grpcError(err error) error {
	if err == nil {
		return nil
	}
	var c codes.Code
	switch kindOf(err) {
	case kindInvalid:
		c = codes.InvalidArgument
	case kindNotFound:
		c = codes.NotFound
	case kindUnavailable:
		c = codes.Unavailable
	case kindUnsupported:
		c = codes.Unimplemented
	case kindExists:
		c = codes.AlreadyExists
	default:
		c = codes.Internal
	}
	return status.Error(c, err.Error())
}

func (g *grpcFrontend) ServerLive(context.Context, *inferencepb.ServerLiveRequest) (*inferencepb.ServerLiveResponse, error) {
	return &inferencepb.ServerLiveResponse{Live: true}, nil
}

func (g *grpcFrontend) ServerReady(context.Context, *inferencepb.ServerReadyRequest) (*inferencepb.ServerReadyResponse, error) {
	return &inferencepb.ServerReadyResponse{Ready: g.core.ready.Load()}, nil
}

func (g *grpcFrontend) ModelReady(_ context.Context, in *inferencepb.ModelReadyRequest) (*inferencepb.ModelReadyResponse, error) {
	ok, err := g.core.modelReady(in.GetName(), in.GetVersion())
	if err != nil {
		return nil, grpcError(err)
	}
	return &inferencepb.ModelReadyResponse{Ready: ok}, nil
}

func (g *grpcFrontend) ServerMetadata(context.Context, *inferencepb.ServerMetadataRequest) (*inferencepb.ServerMetadataResponse, error) {
	return g.meta.proto(), nil
}

func (g *grpcFrontend) ModelMetadata(_ context.Context, in *inferencepb.ModelMetadataRequest) (*inferencepb.ModelMetadataResponse, error) {
	m, err := g.core.lookup(in.GetName(), in.GetVersion())
	if err != nil {
		return nil, grpcError(err)
	}
	return m.metadata, nil
}

func (g *grpcFrontend) ModelConfig(_ context.Context, in *inferencepb.ModelConfigRequest) (*inferencepb.ModelConfigResponse, error) {
	if g.meta.noConfig {
		return nil, status.Error(codes.Unimplemented, "this server has no model configuration extension (perfgo serve --no-model-config)")
	}
	m, err := g.core.lookup(in.GetName(), in.GetVersion())
	if err != nil {
		return nil, grpcError(err)
	}
	return &inferencepb.ModelConfigResponse{Config: m.config}, nil
}

func (g *grpcFrontend) ModelStatistics(_ context.Context, in *inferencepb.ModelStatisticsRequest) (*inferencepb.ModelStatisticsResponse, error) {
	st, err := g.core.statistics(in.GetName(), in.GetVersion())
	return st, grpcError(err)
}

func (g *grpcFrontend) RepositoryIndex(context.Context, *inferencepb.RepositoryIndexRequest) (*inferencepb.RepositoryIndexResponse, error) {
	return g.core.repositoryIndex(), nil
}

func (g *grpcFrontend) ModelInfer(ctx context.Context, in *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	// An unknown model is reported before anything wrong with the request.
	m, err := g.core.lookup(in.GetModelName(), in.GetModelVersion())
	if err != nil {
		return nil, grpcError(err)
	}
	if m.decoupled {
		// Triton's refusal, before the request reaches the model.
		return nil, status.Error(codes.Unimplemented, "ModelInfer RPC doesn't support models with decoupled transaction policy; use ModelStreamInfer")
	}
	ex := g.exchange()
	defer g.release(ex)
	req := &ex.req
	*req = request{received: time.Now(), inputs: ex.in[:0]}
	if err := decodeGRPCRequest(in, req); err != nil {
		g.countDecodeFailure(req, err)
		return nil, grpcError(err)
	}
	if err := g.core.infer(ctx, req, &ex.res); err != nil {
		return nil, grpcError(err)
	}
	return encodeGRPCResponse(req, &ex.res, g.final), nil
}

// countDecodeFailure counts a request that could not be decoded against the
// model it names, if that model exists.
func (g *grpcFrontend) countDecodeFailure(req *request, err error) {
	if m, lerr := g.core.lookup(req.modelName, req.version); lerr == nil {
		g.core.fail(m, req, err)
	}
}

// ModelStreamInfer runs each request of the stream as it arrives (up to
// streamInFlight at once), so responses may come back out of order, as with
// Triton. Errors of one request go back as error_message; the stream lives on.
func (g *grpcFrontend) ModelStreamInfer(stream grpc.BidiStreamingServer[inferencepb.ModelInferRequest, inferencepb.ModelStreamInferResponse]) error {
	ctx := stream.Context()
	var mu sync.Mutex // stream.Send is not safe for concurrent use
	send := func(r *inferencepb.ModelStreamInferResponse) error {
		mu.Lock()
		defer mu.Unlock()
		return stream.Send(r)
	}
	var eg errgroup.Group
	eg.SetLimit(g.streamInFlight)
	var recvErr error
	for {
		in, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				recvErr = err
			}
			break
		}
		eg.Go(func() error {
			g.streamOne(ctx, in, send)
			return nil
		})
	}
	_ = eg.Wait()
	return recvErr
}

func (g *grpcFrontend) streamOne(ctx context.Context, in *inferencepb.ModelInferRequest, send func(*inferencepb.ModelStreamInferResponse) error) {
	req := request{received: time.Now()}
	_, err := g.core.lookup(in.GetModelName(), in.GetModelVersion())
	if err == nil {
		if err = decodeGRPCRequest(in, &req); err != nil {
			g.countDecodeFailure(&req, err)
		}
	}
	if err == nil {
		err = g.core.stream(ctx, &req, func(res *response) error {
			if req.enableEmptyFinal && !res.hasFinal { // a non-decoupled model's only response
				res.hasFinal, res.final = true, true
			}
			return send(&inferencepb.ModelStreamInferResponse{InferResponse: encodeGRPCResponse(&req, res, g.final)})
		})
	}
	if err != nil && ctx.Err() == nil {
		_ = send(&inferencepb.ModelStreamInferResponse{
			ErrorMessage:  err.Error(),
			InferResponse: &inferencepb.ModelInferResponse{ModelName: in.GetModelName(), ModelVersion: in.GetModelVersion(), Id: in.GetId()},
		})
	}
}

func (g *grpcFrontend) RepositoryModelLoad(context.Context, *inferencepb.RepositoryModelLoadRequest) (*inferencepb.RepositoryModelLoadResponse, error) {
	return nil, status.Error(codes.Unimplemented, "perfgo serve's models are built in and always loaded; RepositoryModelLoad is not supported")
}

func (g *grpcFrontend) RepositoryModelUnload(context.Context, *inferencepb.RepositoryModelUnloadRequest) (*inferencepb.RepositoryModelUnloadResponse, error) {
	return nil, status.Error(codes.Unimplemented, "perfgo serve's models are built in and always loaded; RepositoryModelUnload is not supported")
}

const noSharedMemory = "perfgo serve does not implement %s shared memory; send tensors in the request"

func (g *grpcFrontend) SystemSharedMemoryStatus(_ context.Context, in *inferencepb.SystemSharedMemoryStatusRequest) (*inferencepb.SystemSharedMemoryStatusResponse, error) {
	st, err := g.core.shm.status(in.GetName())
	if err != nil {
		return nil, grpcError(err)
	}
	out := &inferencepb.SystemSharedMemoryStatusResponse{Regions: make(map[string]*inferencepb.SystemSharedMemoryStatusResponse_RegionStatus, len(st))}
	for _, r := range st {
		out.Regions[r.Name] = r
	}
	return out, nil
}

func (g *grpcFrontend) SystemSharedMemoryRegister(_ context.Context, in *inferencepb.SystemSharedMemoryRegisterRequest) (*inferencepb.SystemSharedMemoryRegisterResponse, error) {
	if err := g.core.shm.register(in.GetName(), in.GetKey(), in.GetOffset(), in.GetByteSize()); err != nil {
		return nil, grpcError(err)
	}
	return &inferencepb.SystemSharedMemoryRegisterResponse{}, nil
}

func (g *grpcFrontend) SystemSharedMemoryUnregister(_ context.Context, in *inferencepb.SystemSharedMemoryUnregisterRequest) (*inferencepb.SystemSharedMemoryUnregisterResponse, error) {
	if err := g.core.shm.unregister(in.GetName()); err != nil {
		return nil, grpcError(err)
	}
	return &inferencepb.SystemSharedMemoryUnregisterResponse{}, nil
}

func (g *grpcFrontend) CudaSharedMemoryStatus(context.Context, *inferencepb.CudaSharedMemoryStatusRequest) (*inferencepb.CudaSharedMemoryStatusResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, noSharedMemory, "CUDA")
}

func (g *grpcFrontend) CudaSharedMemoryRegister(context.Context, *inferencepb.CudaSharedMemoryRegisterRequest) (*inferencepb.CudaSharedMemoryRegisterResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, noSharedMemory, "CUDA")
}

func (g *grpcFrontend) CudaSharedMemoryUnregister(context.Context, *inferencepb.CudaSharedMemoryUnregisterRequest) (*inferencepb.CudaSharedMemoryUnregisterResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, noSharedMemory, "CUDA")
}

func (g *grpcFrontend) TraceSetting(context.Context, *inferencepb.TraceSettingRequest) (*inferencepb.TraceSettingResponse, error) {
	return nil, status.Error(codes.Unimplemented, "perfgo serve does not implement tracing; TraceSetting is not supported")
}

func (g *grpcFrontend) LogSettings(context.Context, *inferencepb.LogSettingsRequest) (*inferencepb.LogSettingsResponse, error) {
	return nil, status.Error(codes.Unimplemented, "perfgo serve does not implement the logging extension; LogSettings is not supported")
}

// decodeGRPCRequest turns a ModelInferRequest into r. Tensor data comes from
// raw_input_contents (aliased, not copied) or from the typed contents.
func decodeGRPCRequest(in *inferencepb.ModelInferRequest, r *request) error {
	r.modelName, r.version, r.id = in.GetModelName(), in.GetModelVersion(), in.GetId()
	r.grpcParams = in.GetParameters()
	for k, p := range in.GetParameters() {
		if err := grpcRequestParam(k, p, r); err != nil {
			return err
		}
	}
	inputs := in.GetInputs()
	if len(inputs) == 0 {
		return errorf(kindInvalid, "the request has no inputs; add inputs and their data")
	}
	// raw_input_contents has one entry per input not in shared memory, in
	// order (Triton's indexing).
	raw := in.GetRawInputContents()
	nraw := 0
	r.inputs = resizeTensors(r.inputs, len(inputs))
	for i, it := range inputs {
		t := &r.inputs[i]
		t.name, t.shape = it.GetName(), it.GetShape()
		if t.name == "" {
			return errorf(kindInvalid, "input %d has no name", i)
		}
		dt, err := datatype.Parse(it.GetDatatype())
		if err != nil {
			return errorf(kindInvalid, "input %q: %v", t.name, err)
		}
		t.dt = dt
		if t.shm, err = grpcSHMRef("input", t.name, it.GetParameters()); err != nil {
			return err
		}
		switch {
		case t.shm != nil:
			if it.GetContents() != nil {
				return errorf(kindInvalid, "input %q: unexpected 'contents' provided when using shared memory", t.name)
			}
			r.shmInputs = true
		case len(raw) > 0:
			if it.GetContents() != nil {
				return errorf(kindInvalid, "input %q has contents but the request also has raw_input_contents; use one or the other", t.name)
			}
			if nraw == len(raw) {
				return errorf(kindInvalid, "raw_input_contents has %d entries but the request has more inputs not in shared memory; give one per such input, in order", len(raw))
			}
			t.data = raw[nraw]
			nraw++
		case it.GetContents() != nil:
			n, err := elementCount(t.shape)
			if err != nil {
				return errorf(kindInvalid, "input %q: %v", t.name, err)
			}
			if t.data, err = datatype.ContentsToRaw(dt, it.GetContents(), n); err != nil {
				return errorf(kindInvalid, "input %q: %v", t.name, err)
			}
		default:
			return errorf(kindInvalid, "input %q has no data; set raw_input_contents or the input's contents", t.name)
		}
	}
	if nraw != len(raw) {
		return errorf(kindInvalid, "raw_input_contents has %d entries but the request has %d inputs not in shared memory; give one per such input, in order", len(raw), nraw)
	}
	if outs := in.GetOutputs(); len(outs) > 0 {
		r.outputs = make([]outputRequest, len(outs))
		for i, o := range outs {
			if o.GetName() == "" {
				return errorf(kindInvalid, "output %d has no name", i)
			}
			r.outputs[i] = outputRequest{name: o.GetName(), binary: -1}
			if _, ok := o.GetParameters()["classification"]; ok {
				return errorf(kindUnsupported, "output %q asks for classification, which perfgo serve does not implement; request the raw output", o.GetName())
			}
			ref, err := grpcSHMRef("output", o.GetName(), o.GetParameters())
			if err != nil {
				return err
			}
			r.outputs[i].shm = ref
			r.shmOutputs = r.shmOutputs || ref != nil
		}
	}
	return nil
}

func grpcRequestParam(k string, p *inferencepb.InferParameter, r *request) error {
	boolParam := func(dst *bool) error {
		v, ok := p.GetParameterChoice().(*inferencepb.InferParameter_BoolParam)
		if !ok {
			return errorf(kindInvalid, "parameter %s must be a bool_param", k)
		}
		*dst = v.BoolParam
		return nil
	}
	switch k {
	case "sequence_id":
		switch v := p.GetParameterChoice().(type) {
		case *inferencepb.InferParameter_Uint64Param:
			r.seqID.num = v.Uint64Param
		case *inferencepb.InferParameter_Int64Param:
			if v.Int64Param < 0 {
				return errorf(kindInvalid, "parameter sequence_id is %d; it must be a positive integer or a string", v.Int64Param)
			}
			r.seqID.num = uint64(v.Int64Param)
		case *inferencepb.InferParameter_StringParam:
			if v.StringParam == "" {
				return errorf(kindInvalid, "parameter sequence_id is an empty string; use a non-empty string or a positive integer")
			}
			r.seqID.str = v.StringParam
		default:
			return errorf(kindInvalid, "parameter sequence_id must be an int64_param, uint64_param or string_param")
		}
	case "sequence_start":
		return boolParam(&r.seqStart)
	case "sequence_end":
		return boolParam(&r.seqEnd)
	case "triton_enable_empty_final_response":
		return boolParam(&r.enableEmptyFinal)
	case "stream":
		var stream bool
		if err := boolParam(&stream); err != nil {
			return err
		}
		r.oneResponse = !stream
	case "max_tokens":
		switch v := p.GetParameterChoice().(type) {
		case *inferencepb.InferParameter_Int64Param:
			return setMaxTokens(r, v.Int64Param)
		case *inferencepb.InferParameter_Uint64Param:
			return setMaxTokens(r, int64(min(v.Uint64Param, math.MaxInt64)))
		default:
			return errorf(kindInvalid, "parameter max_tokens must be an int64_param or uint64_param")
		}
	}
	return nil
}

// encodeGRPCResponse builds the response with raw_output_contents, as Triton
// does. Output bytes and final's maps are shared, not copied.
func encodeGRPCResponse(req *request, res *response, final *finalParams) *inferencepb.ModelInferResponse {
	// One allocation holds the response and up to two outputs.
	a := &struct {
		resp inferencepb.ModelInferResponse
		ts   [2]inferencepb.ModelInferResponse_InferOutputTensor
		ptrs [2]*inferencepb.ModelInferResponse_InferOutputTensor
		raw  [2][]byte
	}{}
	out := &a.resp
	out.ModelName, out.ModelVersion, out.Id = req.modelName, modelVersion, req.id
	if n := len(res.outputs); n > 0 {
		ts := a.ts[:]
		out.Outputs, out.RawOutputContents = a.ptrs[:0:2], a.raw[:0:2]
		if n > len(a.ts) {
			ts = make([]inferencepb.ModelInferResponse_InferOutputTensor, n)
		}
		out.Outputs = append(out.Outputs, make([]*inferencepb.ModelInferResponse_InferOutputTensor, n)...)
		out.RawOutputContents = append(out.RawOutputContents, make([][]byte, n)...)
		for i := range res.outputs {
			t := &res.outputs[i]
			ts[i].Name, ts[i].Datatype, ts[i].Shape = t.name, t.dt.String(), t.shape
			if t.shm != nil {
				ts[i].Parameters = grpcSHMParams(t.shm)
			}
			out.Outputs[i] = &ts[i]
			out.RawOutputContents[i] = t.data
		}
	}
	if res.echoParams && len(req.grpcParams) > 0 {
		out.Parameters = req.grpcParams // shared: marshalling only reads it
	}
	if res.hasFinal {
		out.Parameters = final[0]
		if res.final {
			out.Parameters = final[1]
		}
	}
	return out
}
