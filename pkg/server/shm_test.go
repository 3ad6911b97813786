package server_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server/servertest"
	"github.com/perfgo/perfgo/pkg/shm"
)

var shmSeq atomic.Int64

// newSHM creates a shared memory object of size bytes, removed at cleanup.
func newSHM(t *testing.T, size int64) *shm.Region {
	t.Helper()
	r, err := shm.Create(fmt.Sprintf("/perfgo_srvtest_%d_%d", os.Getpid(), shmSeq.Add(1)), size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Unlink()
		_ = r.Close()
	})
	return r
}

// putInt32s writes v little-endian at b.
func putInt32s(b []byte, v ...int32) {
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
}

func seqInt32(start, step int32) []int32 {
	v := make([]int32, 16)
	for i := range v {
		v[i] = start + int32(i)*step
	}
	return v
}

// simpleSHMBody asks the simple model ([1,16] INT32 inputs) for INPUT0 and
// INPUT1 from region "in" (offsets 0 and 64) and for OUTPUT0 and OUTPUT1
// into region "out" (offsets 0 and 64).
const simpleSHMBody = `{"inputs":[` +
	`{"name":"INPUT0","shape":[1,16],"datatype":"INT32","parameters":{"shared_memory_region":"in","shared_memory_byte_size":64}},` +
	`{"name":"INPUT1","shape":[1,16],"datatype":"INT32","parameters":{"shared_memory_region":"in","shared_memory_offset":64,"shared_memory_byte_size":64}}],` +
	`"outputs":[` +
	`{"name":"OUTPUT0","parameters":{"shared_memory_region":"out","shared_memory_byte_size":64}},` +
	`{"name":"OUTPUT1","parameters":{"shared_memory_region":"out","shared_memory_offset":64,"shared_memory_byte_size":64,"binary_data":true}}]}`

type shmStatus struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Offset   uint64 `json:"offset"`
	ByteSize uint64 `json:"byte_size"`
}

func httpSHMStatus(t *testing.T, h *httpClient, path string) []shmStatus {
	t.Helper()
	r := h.get(path)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var st []shmStatus
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, r.body)
	}
	return st
}

func shmRegister(h *httpClient, name, key string, offset, size uint64) httpResult {
	body := fmt.Sprintf(`{"key":%q,"offset":%d,"byte_size":%d}`, key, offset, size)
	return h.do(http.MethodPost, "/v2/systemsharedmemory/region/"+name+"/register", map[string]string{"Content-Type": "application/json"}, []byte(body))
}

func TestSharedMemoryHTTP(t *testing.T) {
	s := servertest.Start(t)
	h := newHTTPClient(t, s.HTTPAddr)
	mem := newSHM(t, 4096)
	// "in" is bytes [100, 228) of the object, "out" bytes [1000, 1128).
	for _, reg := range []struct {
		name      string
		off, size uint64
	}{{"in", 100, 128}, {"out", 1000, 128}} {
		if r := shmRegister(h, reg.name, mem.Key(), reg.off, reg.size); r.status != http.StatusOK {
			t.Fatalf("register %s: %d %s", reg.name, r.status, r.body)
		}
	}
	want := []shmStatus{{"in", mem.Key(), 100, 128}, {"out", mem.Key(), 1000, 128}}
	if st := httpSHMStatus(t, h, "/v2/systemsharedmemory/status"); !reflect.DeepEqual(st, want) {
		t.Fatalf("status %+v, want %+v", st, want)
	}
	if st := httpSHMStatus(t, h, "/v2/systemsharedmemory/region/out/status"); !reflect.DeepEqual(st, want[1:]) {
		t.Fatalf("status of out %+v, want %+v", st, want[1:])
	}

	in, out := mem.Bytes()[100:228], mem.Bytes()[1000:1128]
	for round, start := range []int32{1, 1000} {
		putInt32s(in, seqInt32(start, 1)...)
		putInt32s(in[64:], seqInt32(0, 2)...)
		d := decodeHTTP(t, h.inferJSON("simple", simpleSHMBody))
		if d.Error != "" {
			t.Fatalf("round %d: %s", round, d.Error)
		}
		for _, o := range d.Outputs {
			if o.Data != nil || o.raw != nil || o.Parameters.BinaryDataSize != nil {
				t.Errorf("round %d: output %s carries data; it was written to shared memory", round, o.Name)
			}
			if o.Datatype != "INT32" || !reflect.DeepEqual(o.Shape, []int64{1, 16}) {
				t.Errorf("round %d: output %s is %s %v", round, o.Name, o.Datatype, o.Shape)
			}
		}
		sum, diff := decodeInt32s(t, out[:64]), decodeInt32s(t, out[64:])
		for i := range 16 {
			a, b := start+int32(i), int32(2*i)
			if sum[i] != a+b || diff[i] != a-b {
				t.Fatalf("round %d element %d: sum %d diff %d, want %d %d", round, i, sum[i], diff[i], a+b, a-b)
			}
		}
	}
	// The response names where each output went.
	r := h.inferJSON("simple", simpleSHMBody)
	var raw struct {
		Outputs []struct {
			Name       string         `json:"name"`
			Parameters map[string]any `json:"parameters"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.Outputs) != 2 {
		t.Fatalf("%v: %s", err, r.body)
	}
	wantParams := map[string]any{"shared_memory_region": "out", "shared_memory_offset": 64.0, "shared_memory_byte_size": 64.0}
	if got := raw.Outputs[1].Parameters; raw.Outputs[1].Name != "OUTPUT1" || !reflect.DeepEqual(got, wantParams) {
		t.Errorf("OUTPUT1 parameters %v, want %v", got, wantParams)
	}

	// An input from shared memory next to one sent in the body (binary).
	putInt32s(in, seqInt32(5, 0)...)
	hdr := `{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","parameters":{"shared_memory_region":"in","shared_memory_byte_size":64}},` +
		`{"name":"INPUT1","shape":[1,16],"datatype":"INT32","parameters":{"binary_data_size":64}}],"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}`
	d := decodeHTTP(t, h.inferBinary("simple", hdr, int32s(seqInt32(1, 0)...)))
	if got := decodeInt32s(t, d.output(t, "OUTPUT0").raw); got[0] != 6 || got[15] != 6 {
		t.Fatalf("mixed request: OUTPUT0 %v, want all 6", got)
	}

	t.Run("errors", func(t *testing.T) {
		other := newSHM(t, 64)
		for _, c := range []struct {
			name   string
			r      httpResult
			status int
			frag   string
		}{
			{"duplicate", shmRegister(h, "in", other.Key(), 0, 64), 400, "already in manager"},
			{"unknown key", shmRegister(h, "x", "/perfgo_no_such_key", 0, 64), 400, "unable to open"},
			{"bad key", shmRegister(h, "x", "/a/b", 0, 64), 400, "key"},
			{"window past object", shmRegister(h, "x", other.Key(), 32, 33), 400, "do not fit"},
			{"zero size", shmRegister(h, "x", other.Key(), 0, 0), 400, "byte_size"},
			{"malformed register", h.do(http.MethodPost, "/v2/systemsharedmemory/region/x/register", nil, []byte(`{"key":1}`)), 400, "register request"},
			{"missing byte_size", h.do(http.MethodPost, "/v2/systemsharedmemory/region/x/register", nil, []byte(`{"key":"/k"}`)), 400, "byte_size"},
			{"status of unknown", h.get("/v2/systemsharedmemory/region/x/status"), 404, "'x'"},
			{"unknown region", h.inferJSON("simple", replace(simpleSHMBody, `"shared_memory_region":"in"`, `"shared_memory_region":"nope"`, 1)), 404, "'nope'"},
			{"input past region", h.inferJSON("simple", replace(simpleSHMBody, `"in","shared_memory_offset":64,`, `"in","shared_memory_offset":65,`, 1)), 400, "do not fit"},
			{"input size vs shape", h.inferJSON("simple", replace(simpleSHMBody, `"in","shared_memory_byte_size":64`, `"in","shared_memory_byte_size":60`, 1)), 400, "INPUT0"},
			{"output region too small", h.inferJSON("simple", replace(simpleSHMBody, `"out","shared_memory_byte_size":64`, `"out","shared_memory_byte_size":32`, 1)), 400, "at least 64 bytes"},
			{"size without region", h.inferJSON("identity", `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","data":[1],"parameters":{"shared_memory_byte_size":4}}]}`), 400, "without shared_memory_region"},
			{"region and data", h.inferJSON("identity", `{"inputs":[{"name":"INPUT0","shape":[1,1],"datatype":"FP32","data":[1],"parameters":{"shared_memory_region":"in","shared_memory_byte_size":4}}]}`), 400, "also has data"},
			{"negative offset", h.inferJSON("simple", replace(simpleSHMBody, `"shared_memory_offset":64`, `"shared_memory_offset":-1`, 1)), 400, "shared_memory_offset"},
		} {
			t.Run(c.name, func(t *testing.T) { errorBody(t, c.r, c.status, c.frag) })
		}
		if st := httpSHMStatus(t, h, "/v2/systemsharedmemory/status"); !reflect.DeepEqual(st, want) {
			t.Fatalf("failed registrations changed the status: %+v", st)
		}
	})

	post := func(path string) {
		t.Helper()
		if r := h.do(http.MethodPost, path, nil, nil); r.status != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, r.status, r.body)
		}
	}
	post("/v2/systemsharedmemory/region/in/unregister")
	post("/v2/systemsharedmemory/region/never_registered/unregister") // not an error, as with Triton
	if st := httpSHMStatus(t, h, "/v2/systemsharedmemory/status"); !reflect.DeepEqual(st, want[1:]) {
		t.Fatalf("after unregistering in: %+v", st)
	}
	errorBody(t, h.inferJSON("simple", simpleSHMBody), 404, "'in'")
	post("/v2/systemsharedmemory/unregister")
	if st := httpSHMStatus(t, h, "/v2/systemsharedmemory/status"); len(st) != 0 {
		t.Fatalf("after unregistering all: %+v", st)
	}
	// The name is free again.
	if r := shmRegister(h, "in", mem.Key(), 0, 64); r.status != http.StatusOK {
		t.Fatalf("register again: %d %s", r.status, r.body)
	}
}

// replace is strings.Replace that fails loudly when old is absent.
func replace(s, old, new string, n int) string {
	if !strings.Contains(s, old) {
		panic("replace: " + old + " not in " + s)
	}
	return strings.Replace(s, old, new, n)
}

func TestSharedMemoryGRPC(t *testing.T) {
	s := servertest.Start(t)
	c := grpcClient(t, s.GRPCAddr)
	ctx := testCtx(t)
	mem := newSHM(t, 256)
	register := func(name, key string, off, size uint64) error {
		_, err := c.SystemSharedMemoryRegister(ctx, &inferencepb.SystemSharedMemoryRegisterRequest{Name: name, Key: key, Offset: off, ByteSize: size})
		return err
	}
	if err := register("in", mem.Key(), 0, 128); err != nil {
		t.Fatal(err)
	}
	if err := register("out", mem.Key(), 128, 128); err != nil {
		t.Fatal(err)
	}
	st, err := c.SystemSharedMemoryStatus(ctx, &inferencepb.SystemSharedMemoryStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name, key    string
		offset, size uint64
	}
	got := map[string]row{}
	for k, r := range st.GetRegions() {
		got[k] = row{r.GetName(), r.GetKey(), r.GetOffset(), r.GetByteSize()}
	}
	want := map[string]row{"in": {"in", mem.Key(), 0, 128}, "out": {"out", mem.Key(), 128, 128}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("status %v, want %v", got, want)
	}

	str := func(v string) *inferencepb.InferParameter {
		return &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: v}}
	}
	i64 := func(v int64) *inferencepb.InferParameter {
		return &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_Int64Param{Int64Param: v}}
	}
	shmParams := func(region string, off, size int64) map[string]*inferencepb.InferParameter {
		return map[string]*inferencepb.InferParameter{"shared_memory_region": str(region), "shared_memory_offset": i64(off), "shared_memory_byte_size": i64(size)}
	}
	req := func() *inferencepb.ModelInferRequest {
		return &inferencepb.ModelInferRequest{
			ModelName: "simple",
			Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{
				{Name: "INPUT0", Datatype: "INT32", Shape: []int64{1, 16}, Parameters: shmParams("in", 0, 64)},
				{Name: "INPUT1", Datatype: "INT32", Shape: []int64{1, 16}, Parameters: shmParams("in", 64, 64)},
			},
			Outputs: []*inferencepb.ModelInferRequest_InferRequestedOutputTensor{
				{Name: "OUTPUT0", Parameters: shmParams("out", 0, 64)},
				{Name: "OUTPUT1"}, // in the response
			},
		}
	}
	in, out := mem.Bytes()[:128], mem.Bytes()[128:]
	for _, start := range []int32{3, -50} {
		putInt32s(in, seqInt32(start, 1)...)
		putInt32s(in[64:], seqInt32(1, 0)...)
		res, err := c.ModelInfer(ctx, req())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.GetOutputs()) != 2 || len(res.GetRawOutputContents()) != 2 {
			t.Fatalf("response has %d outputs, %d raw entries", len(res.GetOutputs()), len(res.GetRawOutputContents()))
		}
		for i, o := range res.GetOutputs() {
			switch o.GetName() {
			case "OUTPUT0":
				if len(res.GetRawOutputContents()[i]) != 0 {
					t.Errorf("OUTPUT0 carries %d bytes; it was written to shared memory", len(res.GetRawOutputContents()[i]))
				}
				p := o.GetParameters()
				if p["shared_memory_region"].GetStringParam() != "out" || p["shared_memory_byte_size"].GetInt64Param() != 64 {
					t.Errorf("OUTPUT0 parameters %v", p)
				}
			case "OUTPUT1":
				if d := decodeInt32s(t, res.GetRawOutputContents()[i]); d[0] != start-1 {
					t.Errorf("OUTPUT1[0] = %d, want %d", d[0], start-1)
				}
			}
		}
		if sum := decodeInt32s(t, out[:64]); sum[0] != start+1 || sum[15] != start+16 {
			t.Fatalf("OUTPUT0 in shared memory %v, want %d..%d", sum, start+1, start+16)
		}
	}
	// Inputs in shared memory take no raw_input_contents entry: the one
	// entry is INPUT1's.
	mixed := req()
	mixed.Inputs[1].Parameters = nil
	mixed.RawInputContents = [][]byte{int32s(seqInt32(10, 0)...)}
	putInt32s(in, seqInt32(1, 0)...)
	if _, err := c.ModelInfer(ctx, mixed); err != nil {
		t.Fatal(err)
	}
	if sum := decodeInt32s(t, out[:64]); sum[0] != 11 {
		t.Fatalf("mixed request: OUTPUT0[0] = %d, want 11", sum[0])
	}

	t.Run("errors", func(t *testing.T) {
		wantCode(t, register("in", mem.Key(), 0, 8), codes.AlreadyExists, "already in manager")
		wantCode(t, register("x", "/perfgo_no_such_key", 0, 8), codes.InvalidArgument, "unable to open")
		wantCode(t, register("x", mem.Key(), 200, 57), codes.InvalidArgument, "do not fit")
		wantCode(t, register("", mem.Key(), 0, 8), codes.InvalidArgument, "name")
		_, err := c.SystemSharedMemoryStatus(ctx, &inferencepb.SystemSharedMemoryStatusRequest{Name: "x"})
		wantCode(t, err, codes.NotFound, "'x'")

		r := req()
		r.Inputs[0].Parameters["shared_memory_region"] = str("nope")
		_, err = c.ModelInfer(ctx, r)
		wantCode(t, err, codes.NotFound, "'nope'")
		r = req()
		r.Inputs[1].Parameters["shared_memory_offset"] = i64(65)
		_, err = c.ModelInfer(ctx, r)
		wantCode(t, err, codes.InvalidArgument, "do not fit")
		r = req()
		r.Outputs[0].Parameters["shared_memory_byte_size"] = i64(63)
		_, err = c.ModelInfer(ctx, r)
		wantCode(t, err, codes.InvalidArgument, "at least 64 bytes")
		r = req()
		r.Inputs[0].Parameters["shared_memory_byte_size"] = str("64")
		_, err = c.ModelInfer(ctx, r)
		wantCode(t, err, codes.InvalidArgument, "shared_memory_byte_size")
		r = req()
		r.RawInputContents = [][]byte{int32s(seqInt32(0, 0)...)}
		_, err = c.ModelInfer(ctx, r)
		wantCode(t, err, codes.InvalidArgument, "raw_input_contents has 1")
	})

	for _, name := range []string{"in", "never_registered"} {
		if _, err := c.SystemSharedMemoryUnregister(ctx, &inferencepb.SystemSharedMemoryUnregisterRequest{Name: name}); err != nil {
			t.Fatalf("unregister %s: %v", name, err)
		}
	}
	st, err = c.SystemSharedMemoryStatus(ctx, &inferencepb.SystemSharedMemoryStatusRequest{})
	if err != nil || len(st.GetRegions()) != 1 || st.GetRegions()["out"] == nil {
		t.Fatalf("after unregistering in: %v, %v", st, err)
	}
	if _, err := c.SystemSharedMemoryUnregister(ctx, &inferencepb.SystemSharedMemoryUnregisterRequest{}); err != nil {
		t.Fatal(err)
	}
	st, err = c.SystemSharedMemoryStatus(ctx, &inferencepb.SystemSharedMemoryStatusRequest{})
	if err != nil || len(st.GetRegions()) != 0 {
		t.Fatalf("after unregistering all: %v, %v", st, err)
	}
}
