package faultserver

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// grpcFront forwards the calls perfgo makes to the backend and applies the
// fault to ModelInfer and ModelStreamInfer (stream.go).
type grpcFront struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	p *Proxy
}

func (g grpcFront) ServerLive(ctx context.Context, in *inferencepb.ServerLiveRequest) (*inferencepb.ServerLiveResponse, error) {
	return g.p.infer.ServerLive(ctx, in)
}

func (g grpcFront) ServerReady(ctx context.Context, in *inferencepb.ServerReadyRequest) (*inferencepb.ServerReadyResponse, error) {
	return g.p.infer.ServerReady(ctx, in)
}

func (g grpcFront) ModelReady(ctx context.Context, in *inferencepb.ModelReadyRequest) (*inferencepb.ModelReadyResponse, error) {
	return g.p.infer.ModelReady(ctx, in)
}

func (g grpcFront) ServerMetadata(ctx context.Context, in *inferencepb.ServerMetadataRequest) (*inferencepb.ServerMetadataResponse, error) {
	return g.p.infer.ServerMetadata(ctx, in)
}

func (g grpcFront) ModelMetadata(ctx context.Context, in *inferencepb.ModelMetadataRequest) (*inferencepb.ModelMetadataResponse, error) {
	return g.p.infer.ModelMetadata(ctx, in)
}

func (g grpcFront) ModelConfig(ctx context.Context, in *inferencepb.ModelConfigRequest) (*inferencepb.ModelConfigResponse, error) {
	return g.p.infer.ModelConfig(ctx, in)
}

func (g grpcFront) ModelStatistics(ctx context.Context, in *inferencepb.ModelStatisticsRequest) (*inferencepb.ModelStatisticsResponse, error) {
	return g.p.infer.ModelStatistics(ctx, in)
}

func (g grpcFront) RepositoryIndex(ctx context.Context, in *inferencepb.RepositoryIndexRequest) (*inferencepb.RepositoryIndexResponse, error) {
	return g.p.infer.RepositoryIndex(ctx, in)
}

func (g grpcFront) ModelInfer(ctx context.Context, in *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	p := g.p
	f, st := p.next()
	switch {
	case f.Kind.httpOnly():
		return nil, status.Errorf(codes.Internal, "faultserver: the %v fault applies to HTTP only", f.Kind)
	case f.Kind.streamOnly():
		return nil, status.Errorf(codes.Internal, "faultserver: the %v fault applies to streamed requests only", f.Kind)
	case f.Kind == Stall || f.Kind == Drop:
		if !p.hold(ctx, f.Kind, st) {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	case f.Kind == Huge:
		return hugeResponse(in.GetModelName(), f.size()), nil
	}
	res, err := p.infer.ModelInfer(ctx, in)
	if err != nil {
		return nil, err
	}
	switch f.Kind {
	case MissingOutputs:
		res.Outputs, res.RawOutputContents = nil, nil
	case ShortData:
		if n := len(res.RawOutputContents); n > 0 {
			last := res.RawOutputContents[n-1]
			res.RawOutputContents[n-1] = last[:len(last)/2]
		}
	}
	return res, nil
}

// hugeID marks the response hugeCodec streams instead of marshalling.
const hugeID = "faultserver:huge"

// hugeResponse is the marker of a response with one UINT8 output of size
// bytes; only hugeCodec knows how to send it.
func hugeResponse(model string, size int64) *inferencepb.ModelInferResponse {
	return &inferencepb.ModelInferResponse{ModelName: model, ModelVersion: "1", Id: hugeID,
		Outputs: []*inferencepb.ModelInferResponse_InferOutputTensor{{Name: "OUTPUT0", Datatype: "UINT8", Shape: []int64{size}}}}
}

// hugeCodec is the proto codec, except that it writes a hugeResponse's raw
// contents as references to one chunk of zeros: the message is never in
// memory at once.
type hugeCodec struct{}

func (hugeCodec) Name() string { return "proto" }

func (hugeCodec) Marshal(v any) (mem.BufferSlice, error) {
	r, ok := v.(*inferencepb.ModelInferResponse)
	if !ok || r.GetId() != hugeID {
		return encoding.GetCodecV2("proto").Marshal(v)
	}
	size := r.GetOutputs()[0].GetShape()[0]
	head, err := proto.Marshal(&inferencepb.ModelInferResponse{ModelName: r.ModelName, ModelVersion: r.ModelVersion, Outputs: r.Outputs})
	if err != nil {
		return nil, err
	}
	head = protowire.AppendTag(head, 6, protowire.BytesType) // raw_output_contents
	head = protowire.AppendVarint(head, uint64(size))
	out := mem.BufferSlice{mem.SliceBuffer(head)}
	for left := size; left > 0; {
		n := min(left, int64(len(zeros)))
		out = append(out, mem.SliceBuffer(zeros[:n]))
		left -= n
	}
	return out, nil
}

func (hugeCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return encoding.GetCodecV2("proto").Unmarshal(data, v)
}
