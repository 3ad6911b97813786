package client

import (
	"encoding/binary"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/server/servertest"
	"github.com/perfgo/perfgo/pkg/shm"
)

func TestSharedMemoryControlAndInputs(t *testing.T) {
	s := servertest.Start(t)
	for i, opts := range shmTransports(s) {
		t.Run(fmt.Sprintf("%s-%d", opts.Protocol, i), func(t *testing.T) { sharedMemorySuite(t, opts, s) })
	}
}

// shmTransports are the ways to reach s: HTTP binary and JSON, gRPC.
func shmTransports(s *servertest.Server) []Options {
	return []Options{
		{Protocol: HTTP, URL: s.HTTPAddr},
		{Protocol: HTTP, URL: s.HTTPAddr, InputTensorFormat: FormatJSON, OutputTensorFormat: FormatJSON},
		{Protocol: GRPC, URL: s.GRPCAddr},
	}
}

func sharedMemorySuite(t *testing.T, opts Options, s *servertest.Server) {
	ctx := testCtx(t)
	c, ok := newClient(t, opts).(SharedMemoryClient)
	if !ok {
		t.Fatalf("%T is not a SharedMemoryClient", c)
	}
	// Someone else's region, registered over the other protocol.
	otherOpts := Options{Protocol: GRPC, URL: s.GRPCAddr}
	if opts.Protocol == GRPC {
		otherOpts = Options{Protocol: HTTP, URL: s.HTTPAddr}
	}
	other := newClient(t, otherOpts).(SharedMemoryClient)

	mem, err := shm.Create(fmt.Sprintf("/perfgo_clienttest_%d_%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_")), 256)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Unlink(); _ = mem.Close() })

	if err := other.RegisterSystemSharedMemory(ctx, "someone_else", mem.Key(), 192, 64); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.UnregisterSystemSharedMemory(ctx, "someone_else") })
	if err := c.RegisterSystemSharedMemory(ctx, "perfgo_in", mem.Key(), 0, 128); err != nil {
		t.Fatal(err)
	}
	st, err := c.SystemSharedMemoryStatus(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []SharedMemoryRegion{{"perfgo_in", mem.Key(), 0, 128}, {"someone_else", mem.Key(), 192, 64}}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("status %+v, want %+v", st, want)
	}
	if st, err := c.SystemSharedMemoryStatus(ctx, "perfgo_in"); err != nil || !reflect.DeepEqual(st, want[:1]) {
		t.Fatalf("status of perfgo_in: %+v, %v", st, err)
	}
	if _, err := c.SystemSharedMemoryStatus(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "'nope'") {
		t.Errorf("status of an unknown region: %v", err)
	}
	if err := c.RegisterSystemSharedMemory(ctx, "perfgo_in", mem.Key(), 0, 8); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("duplicate register: %v", err)
	}
	if err := c.RegisterSystemSharedMemory(ctx, "perfgo_bad", "/perfgo_no_such_key", 0, 8); err == nil {
		t.Error("register of an unknown key: no error")
	}

	// INPUT0 from the region (offset 0), INPUT1 from the region at offset
	// 64 given as uint64 (sent as int64, as Triton requires).
	req := &InferRequest{Model: "simple", Inputs: []Tensor{
		{Name: "INPUT0", Datatype: TypeInt32, Shape: []int64{1, 16}, Parameters: map[string]any{
			ParamSharedMemoryRegion: "perfgo_in", ParamSharedMemoryByteSize: 64}},
		{Name: "INPUT1", Datatype: TypeInt32, Shape: []int64{1, 16}, Parameters: map[string]any{
			ParamSharedMemoryRegion: "perfgo_in", ParamSharedMemoryOffset: uint64(64), ParamSharedMemoryByteSize: uint64(64)}},
	}}
	call, err := c.(Client).NewCall(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []int32{7, -300} {
		for i := range 16 {
			binary.LittleEndian.PutUint32(mem.Bytes()[4*i:], uint32(base+int32(i)))
			binary.LittleEndian.PutUint32(mem.Bytes()[64+4*i:], 1)
		}
		if _, err := call.Do(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := call.Response()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Outputs {
			if o.Name != "OUTPUT0" {
				continue
			}
			if got := int32(binary.LittleEndian.Uint32(o.Data)); got != base+1 {
				t.Fatalf("OUTPUT0[0] = %d, want %d: the region's bytes were not used", got, base+1)
			}
		}
	}
	// An input with a region and data, or a region without a size, is refused.
	bad := *req
	bad.Inputs = []Tensor{req.Inputs[0], req.Inputs[1]}
	bad.Inputs[0].Data = make([]byte, 64)
	if _, err := c.(Client).NewCall(&bad); err == nil {
		t.Error("an input with a region and Data was accepted")
	}
	bad.Inputs[0] = Tensor{Name: "INPUT0", Datatype: TypeInt32, Shape: []int64{1, 16}, Parameters: map[string]any{ParamSharedMemoryRegion: "perfgo_in"}}
	if _, err := c.(Client).NewCall(&bad); err == nil {
		t.Error("an input with a region and no byte size was accepted")
	}

	// Unregistering ours leaves someone else's.
	if err := c.UnregisterSystemSharedMemory(ctx, "perfgo_in"); err != nil {
		t.Fatal(err)
	}
	if err := c.UnregisterSystemSharedMemory(ctx, "perfgo_never"); err != nil {
		t.Fatalf("unregistering a name not registered: %v", err)
	}
	if st, err := c.SystemSharedMemoryStatus(ctx, ""); err != nil || !reflect.DeepEqual(st, want[1:]) {
		t.Fatalf("after unregistering ours: %+v, %v; want only %+v", st, err, want[1:])
	}
	if _, err := call.Do(ctx); err == nil {
		t.Error("a request naming an unregistered region succeeded")
	}
}

// Triton takes shared-memory offsets and sizes as int64_param only, and
// indexes raw_input_contents by the inputs not in shared memory.
func TestSharedMemoryGRPCEncoding(t *testing.T) {
	checked, err := checkRequest(&InferRequest{Model: "simple", Inputs: []Tensor{
		{Name: "INPUT0", Datatype: TypeInt32, Shape: []int64{1}, Parameters: map[string]any{
			ParamSharedMemoryRegion: "r", ParamSharedMemoryOffset: uint64(8), ParamSharedMemoryByteSize: uint32(4)}},
		{Name: "INPUT1", Datatype: TypeInt32, Shape: []int64{1}, Data: []byte{1, 0, 0, 0}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	pb := checked.toPB(nil)
	p := pb.GetInputs()[0].GetParameters()
	if p[ParamSharedMemoryOffset].GetInt64Param() != 8 || p[ParamSharedMemoryByteSize].GetInt64Param() != 4 || p[ParamSharedMemoryRegion].GetStringParam() != "r" {
		t.Errorf("shared memory parameters %v, want int64 offset 8 and size 4", p)
	}
	if raw := pb.GetRawInputContents(); len(raw) != 1 || len(raw[0]) != 4 {
		t.Errorf("raw_input_contents %v, want only INPUT1's 4 bytes", raw)
	}
	body, _, err := encodeHTTPRequest(checked, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(body); strings.Count(s, "binary_data_size") != 1 || !strings.Contains(s, `"shared_memory_offset":8`) {
		t.Errorf("HTTP body %s: want one binary input and the region's parameters", s)
	}
}

// Outputs requested in shared memory are written there by the server and
// answered with their placement and no data, which the check accepts.
func TestSharedMemoryOutputs(t *testing.T) {
	s := servertest.Start(t)
	for i, opts := range shmTransports(s) {
		t.Run(fmt.Sprintf("%s-%d", opts.Protocol, i), func(t *testing.T) {
			ctx := testCtx(t)
			c := newClient(t, opts)
			sc := c.(SharedMemoryClient)
			mem, err := shm.Create(fmt.Sprintf("/perfgo_clienttest_%d_%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_")), 256)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = mem.Unlink(); _ = mem.Close() })
			name := "perfgo_out_" + strings.ReplaceAll(t.Name(), "/", "_")
			if err := sc.RegisterSystemSharedMemory(ctx, name, mem.Key(), 0, 256); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sc.UnregisterSystemSharedMemory(ctx, name) })
			in0, in1 := make([]byte, 64), make([]byte, 64)
			for i := range 16 {
				binary.LittleEndian.PutUint32(in0[4*i:], uint32(i))
				binary.LittleEndian.PutUint32(in1[4*i:], 100)
			}
			req := &InferRequest{Model: "simple",
				Inputs: []Tensor{
					{Name: "INPUT0", Datatype: TypeInt32, Shape: []int64{1, 16}, Data: in0},
					{Name: "INPUT1", Datatype: TypeInt32, Shape: []int64{1, 16}, Data: in1},
				},
				Outputs: []string{"OUTPUT0", "OUTPUT1"},
				OutputParams: map[string]map[string]any{
					"OUTPUT0": {ParamSharedMemoryRegion: name, ParamSharedMemoryByteSize: uint64(128)},
					"OUTPUT1": {ParamSharedMemoryRegion: name, ParamSharedMemoryOffset: 128, ParamSharedMemoryByteSize: 128},
				},
			}
			call, err := c.NewCall(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := call.Do(ctx); err != nil {
				t.Fatal(err)
			}
			res, err := call.Response()
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Outputs) != 2 {
				t.Fatalf("%d outputs, want 2", len(res.Outputs))
			}
			for _, o := range res.Outputs {
				if len(o.Data) != 0 || o.Parameters[ParamSharedMemoryRegion] != name {
					t.Errorf("output %s: %d bytes of data, parameters %v; want none and the region", o.Name, len(o.Data), o.Parameters)
				}
			}
			for i := range 16 {
				sum := int32(binary.LittleEndian.Uint32(mem.Bytes()[4*i:]))
				diff := int32(binary.LittleEndian.Uint32(mem.Bytes()[128+4*i:]))
				if sum != int32(i)+100 || diff != int32(i)-100 {
					t.Fatalf("element %d: OUTPUT0 %d, OUTPUT1 %d in the region; want %d and %d", i, sum, diff, i+100, i-100)
				}
			}
		})
	}
}

func TestOutputParamsRefused(t *testing.T) {
	in := []Tensor{{Name: "INPUT0", Datatype: TypeInt32, Shape: []int64{1}, Data: []byte{1, 0, 0, 0}}}
	shmOut := map[string]any{ParamSharedMemoryRegion: "r", ParamSharedMemoryByteSize: 4}
	for _, tc := range []struct {
		name string
		req  InferRequest
		want string
	}{
		{"not requested", InferRequest{Model: "m", Inputs: in, Outputs: []string{"A"}, OutputParams: map[string]map[string]any{"B": shmOut}}, `"B", which is not among`},
		{"no size", InferRequest{Model: "m", Inputs: in, Outputs: []string{"A"}, OutputParams: map[string]map[string]any{"A": {ParamSharedMemoryRegion: "r"}}}, "needs shared_memory_byte_size"},
		{"expected", InferRequest{Model: "m", Inputs: in, Outputs: []string{"A"}, OutputParams: map[string]map[string]any{"A": shmOut},
			Expected: []Tensor{{Name: "A", Datatype: TypeInt32, Shape: []int64{1}, Data: []byte{1, 0, 0, 0}}}}, "no data to compare"},
	} {
		if _, err := checkRequest(&tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.want)
		}
	}
	checked, err := checkRequest(&InferRequest{Model: "m", Inputs: in, Outputs: []string{"A", "B"}, OutputParams: map[string]map[string]any{"A": shmOut}})
	if err != nil {
		t.Fatal(err)
	}
	outs := checked.toPB(nil).GetOutputs()
	if p := outs[0].GetParameters(); p[ParamSharedMemoryByteSize].GetInt64Param() != 4 || p[ParamSharedMemoryRegion].GetStringParam() != "r" || outs[1].GetParameters() != nil {
		t.Errorf("gRPC outputs %v: want A's region parameters (int64 size), none for B", outs)
	}
	body, _, err := encodeHTTPRequest(checked, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(body); !strings.Contains(s, `{"name":"A","parameters":{"shared_memory_byte_size":4,"shared_memory_region":"r"}}`) || !strings.Contains(s, `{"name":"B","parameters":{"binary_data":true}}`) {
		t.Errorf("HTTP body %s: want A in its region (no binary_data), B binary", s)
	}
}
