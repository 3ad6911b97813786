package server

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/shm"
)

// Triton's system shared-memory extension. A client creates a POSIX shared
// memory object, registers (a window of) it under a region name, and then
// names the region in an input's or requested output's parameters:
//
//	shared_memory_region     string  the registered region name (required)
//	shared_memory_offset     int64   bytes into the region (default 0)
//	shared_memory_byte_size  int64   bytes of the tensor (required)
//
// HTTP sends them as JSON numbers, gRPC as int64_param (uint64_param is
// accepted too). An input's bytes are copied out of the region when the
// request starts, so unregistering a region never pulls memory from under
// a running request; an output is copied into its region before the
// response is sent, and the response then carries the output's name,
// datatype, shape and these parameters (byte_size being the bytes
// written), but no data.
//
// Errors follow Triton: a duplicate name is ALREADY_EXISTS (HTTP 400), an
// unknown region in status or in a tensor is NOT_FOUND (404), and a window
// outside the object or a tensor outside its region is INVALID_ARGUMENT
// (400). Unregistering a name that is not registered succeeds. Where
// Triton answers INTERNAL for a key it cannot open, perfgo serve says
// INVALID_ARGUMENT: the key is the client's mistake.
const (
	paramSHMRegion = "shared_memory_region"
	paramSHMOffset = "shared_memory_offset"
	paramSHMSize   = "shared_memory_byte_size"
)

// shmRef places one tensor in a registered region.
type shmRef struct {
	region       string
	offset, size uint64
}

// shmRegion is one registration: a window of a mapped object.
type shmRegion struct {
	name, key    string
	offset, size uint64
	mem          *shm.Region
	data         []byte // mem's bytes [offset, offset+size)
}

// shmRegistry holds the registered regions. Tensor copies hold the read
// lock, so a region is never unmapped while its bytes are being copied.
type shmRegistry struct {
	mu      sync.RWMutex
	regions map[string]*shmRegion
}

func newSHMRegistry() *shmRegistry {
	return &shmRegistry{regions: map[string]*shmRegion{}}
}

func (s *shmRegistry) register(name, key string, offset, size uint64) error {
	if name == "" {
		return errorf(kindInvalid, "no shared memory region name given")
	}
	if size == 0 {
		return errorf(kindInvalid, "failed to register shared memory region '%s': byte_size is 0; give the region's size in bytes", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.regions[name]; ok {
		return errorf(kindExists, "shared memory region '%s' already in manager", name)
	}
	mem, err := shm.Open(key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errorf(kindInvalid, "failed to register shared memory region '%s': unable to open shared memory region: '%s' (no such object; create it before registering)", name, key)
		}
		return errorf(kindInvalid, "failed to register shared memory region '%s': %v", name, err)
	}
	data, err := mem.Slice(offset, size)
	if err != nil {
		_ = mem.Close()
		return errorf(kindInvalid, "failed to register shared memory region '%s': offset %d and byte_size %d do not fit key '%s' of %d bytes", name, offset, size, key, mem.Size())
	}
	s.regions[name] = &shmRegion{name: name, key: key, offset: offset, size: size, mem: mem, data: data}
	return nil
}

// unregister removes one region, or all when name is "". An unknown name
// is not an error, as with Triton.
func (s *shmRegistry) unregister(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for n, r := range s.regions {
		if name == "" || n == name {
			errs = append(errs, r.mem.Close())
			delete(s.regions, n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return errorf(kindInternal, "unregister system shared memory: %v", err)
	}
	return nil
}

// status describes one region, or all (sorted by name) when name is "".
func (s *shmRegistry) status(name string) ([]*inferencepb.SystemSharedMemoryStatusResponse_RegionStatus, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*inferencepb.SystemSharedMemoryStatusResponse_RegionStatus
	for n, r := range s.regions {
		if name == "" || n == name {
			out = append(out, &inferencepb.SystemSharedMemoryStatusResponse_RegionStatus{Name: r.name, Key: r.key, Offset: r.offset, ByteSize: r.size})
		}
	}
	if name != "" && len(out) == 0 {
		return nil, errorf(kindNotFound, "Unable to find system shared memory region: '%s'", name)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// window returns ref's bytes; the caller holds the read lock.
func (s *shmRegistry) window(what, tensor string, ref *shmRef) ([]byte, error) {
	r, ok := s.regions[ref.region]
	if !ok {
		return nil, errorf(kindNotFound, "%s %q: Unable to find shared memory region: '%s'", what, tensor, ref.region)
	}
	if ref.offset > r.size || ref.size > r.size-ref.offset {
		return nil, errorf(kindInvalid, "%s %q: %d bytes at offset %d do not fit shared memory region '%s' of %d bytes", what, tensor, ref.size, ref.offset, ref.region, r.size)
	}
	return r.data[ref.offset : ref.offset+ref.size], nil
}

// readInputs copies every shared-memory input's bytes out of its region.
func (s *shmRegistry) readInputs(r *request) error {
	if !r.shmInputs {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range r.inputs {
		t := &r.inputs[i]
		if t.shm == nil {
			continue
		}
		b, err := s.window("input", t.name, t.shm)
		if err != nil {
			return err
		}
		t.data = append([]byte(nil), b...)
	}
	return nil
}

// writeOutputs copies the outputs requested in shared memory into their
// regions; such outputs then carry their placement and no data.
func (s *shmRegistry) writeOutputs(r *request, res *response) error {
	if !r.shmOutputs {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range res.outputs {
		t := &res.outputs[i]
		ref := r.outputSHM(t.name)
		if ref == nil {
			continue
		}
		b, err := s.window("output", t.name, ref)
		if err != nil {
			return err
		}
		if len(t.data) > len(b) {
			return errorf(kindInvalid, "shared memory size specified with the request for output '%s' (%d bytes) should be at least %d bytes to hold the results", t.name, ref.size, len(t.data))
		}
		n := copy(b, t.data)
		t.data = nil
		t.shm = &shmRef{region: ref.region, offset: ref.offset, size: uint64(n)}
	}
	return nil
}

// outputSHM returns the shared-memory placement requested for output name.
func (r *request) outputSHM(name string) *shmRef {
	for i := range r.outputs {
		if r.outputs[i].name == name {
			return r.outputs[i].shm
		}
	}
	return nil
}

// appendSHMParams appends ,"parameters":{...} for an output placed in
// shared memory.
func appendSHMParams(dst []byte, ref *shmRef) []byte {
	dst = append(dst, `,"parameters":{"shared_memory_region":`...)
	dst = datatype.AppendJSONString(dst, ref.region)
	dst = append(dst, `,"shared_memory_offset":`...)
	dst = strconv.AppendUint(dst, ref.offset, 10)
	dst = append(dst, `,"shared_memory_byte_size":`...)
	dst = strconv.AppendUint(dst, ref.size, 10)
	return append(dst, '}')
}

// grpcSHMParams are the response parameters of an output placed in shared memory.
func grpcSHMParams(ref *shmRef) map[string]*inferencepb.InferParameter {
	i64 := func(v uint64) *inferencepb.InferParameter {
		return &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_Int64Param{Int64Param: int64(v)}}
	}
	return map[string]*inferencepb.InferParameter{
		paramSHMRegion: {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: ref.region}},
		paramSHMOffset: i64(ref.offset),
		paramSHMSize:   i64(ref.size),
	}
}

// jsonSHMParams are the shared-memory parameters of an HTTP tensor.
type jsonSHMParams struct {
	Region json.RawMessage `json:"shared_memory_region"`
	Offset jsonUint        `json:"shared_memory_offset"`
	Size   jsonUint        `json:"shared_memory_byte_size"`
}

// ref checks the parameters of tensor (what: "input" or "output") and
// returns its placement, nil when it names no region.
func (p *jsonSHMParams) ref(what, tensor string) (*shmRef, error) {
	if !isJSONValue(p.Region) {
		if p.Offset.set || p.Size.set || p.Offset.bad != "" || p.Size.bad != "" {
			return nil, errorf(kindInvalid, "%s %q: shared_memory_offset and shared_memory_byte_size can not be specified without shared_memory_region", what, tensor)
		}
		return nil, nil
	}
	var region string
	if err := json.Unmarshal(p.Region, &region); err != nil || region == "" {
		return nil, errorf(kindInvalid, "%s %q: parameter shared_memory_region is %s; it must be a region name (a non-empty string)", what, tensor, clip(p.Region))
	}
	for _, u := range []struct {
		name string
		v    jsonUint
	}{{paramSHMOffset, p.Offset}, {paramSHMSize, p.Size}} {
		if err := u.v.check(u.name); err != nil {
			return nil, errorf(kindInvalid, "%s %q: %v", what, tensor, err)
		}
	}
	if !p.Size.set {
		return nil, errorf(kindInvalid, "%s %q: shared_memory_byte_size must be specified along with shared_memory_region", what, tensor)
	}
	return &shmRef{region: region, offset: p.Offset.v, size: p.Size.v}, nil
}

// grpcSHMRef reads a gRPC tensor's shared-memory parameters; nil when it
// names no region.
func grpcSHMRef(what, tensor string, params map[string]*inferencepb.InferParameter) (*shmRef, error) {
	rp, ok := params[paramSHMRegion]
	if !ok {
		for _, k := range []string{paramSHMOffset, paramSHMSize} {
			if _, ok := params[k]; ok {
				return nil, errorf(kindInvalid, "%s %q: '%s' can not be specified without 'shared_memory_region' parameter", what, tensor, k)
			}
		}
		return nil, nil
	}
	sp, ok := rp.GetParameterChoice().(*inferencepb.InferParameter_StringParam)
	if !ok || sp.StringParam == "" {
		return nil, errorf(kindInvalid, "%s %q: invalid value type for 'shared_memory_region' parameter, expected a non-empty string_param", what, tensor)
	}
	ref := &shmRef{region: sp.StringParam}
	num := func(k string) (uint64, bool, error) {
		p, ok := params[k]
		if !ok {
			return 0, false, nil
		}
		switch v := p.GetParameterChoice().(type) {
		case *inferencepb.InferParameter_Int64Param:
			if v.Int64Param >= 0 {
				return uint64(v.Int64Param), true, nil
			}
		case *inferencepb.InferParameter_Uint64Param:
			return v.Uint64Param, true, nil
		}
		return 0, true, errorf(kindInvalid, "%s %q: invalid value for '%s' parameter, expected a non-negative int64_param", what, tensor, k)
	}
	var err error
	if ref.offset, _, err = num(paramSHMOffset); err != nil {
		return nil, err
	}
	var set bool
	if ref.size, set, err = num(paramSHMSize); err != nil {
		return nil, err
	}
	if !set {
		return nil, errorf(kindInvalid, "%s %q: 'shared_memory_byte_size' must be specified along with 'shared_memory_region' parameter", what, tensor)
	}
	return ref, nil
}

// HTTP endpoints of the extension.
func (h *httpFrontend) routeSHM(mux *http.ServeMux) {
	const base = "/v2/systemsharedmemory"
	mux.HandleFunc("GET "+base+"/status", h.shmStatus)
	mux.HandleFunc("GET "+base+"/region/{region}/status", h.shmStatus)
	mux.HandleFunc("POST "+base+"/region/{region}/register", h.shmRegister)
	mux.HandleFunc("POST "+base+"/unregister", h.shmUnregister)
	mux.HandleFunc("POST "+base+"/region/{region}/unregister", h.shmUnregister)
}

// shmStatus answers with a bare JSON array, as Triton does.
func (h *httpFrontend) shmStatus(w http.ResponseWriter, r *http.Request) {
	st, err := h.core.shm.status(r.PathValue("region"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := []byte{'['}
	for i, s := range st {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendProtoJSON(out, s.ProtoReflect())
	}
	writeJSON(w, http.StatusOK, append(out, ']'))
}

func (h *httpFrontend) shmRegister(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Key      *string `json:"key"`
		Offset   uint64  `json:"offset"`
		ByteSize *uint64 `json:"byte_size"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err == nil {
		err = json.Unmarshal(data, &body)
	}
	if err == nil && (body.Key == nil || body.ByteSize == nil) {
		err = errors.New("key and byte_size are required")
	}
	if err != nil {
		writeError(w, errorf(kindInvalid, "malformed shared memory register request: %v; send {\"key\":\"/name\",\"offset\":0,\"byte_size\":N}", err))
		return
	}
	if err := h.core.shm.register(r.PathValue("region"), *body.Key, body.Offset, *body.ByteSize); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *httpFrontend) shmUnregister(w http.ResponseWriter, r *http.Request) {
	if err := h.core.shm.unregister(r.PathValue("region")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
