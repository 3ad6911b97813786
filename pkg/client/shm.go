package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// Tensor parameters of Triton's shared-memory extensions. A Tensor in a
// registered region carries ParamSharedMemoryRegion (string) and
// ParamSharedMemoryByteSize, optionally ParamSharedMemoryOffset (integers;
// sent as int64 as Triton requires), and no Data.
const (
	ParamSharedMemoryRegion   = "shared_memory_region"
	ParamSharedMemoryOffset   = "shared_memory_offset"
	ParamSharedMemoryByteSize = "shared_memory_byte_size"
)

// SharedMemoryRegion is one registered system shared-memory region: a
// window of ByteSize bytes at Offset in the object named by Key.
type SharedMemoryRegion struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Offset   uint64 `json:"offset"`
	ByteSize uint64 `json:"byte_size"`
}

// SharedMemoryClient controls a server's system shared-memory regions
// (Triton's system_shared_memory extension). Each call is bounded by the
// client's control timeout.
type SharedMemoryClient interface {
	// RegisterSystemSharedMemory registers size bytes at offset of the
	// object key (e.g. "/perfgo_<pid>_0") under name.
	RegisterSystemSharedMemory(ctx context.Context, name, key string, offset, size uint64) error
	// UnregisterSystemSharedMemory unregisters name; "" unregisters every
	// region, other clients' too. A name not registered is not an error.
	UnregisterSystemSharedMemory(ctx context.Context, name string) error
	// SystemSharedMemoryStatus lists the region name, or all ("") sorted
	// by name.
	SystemSharedMemoryStatus(ctx context.Context, name string) ([]SharedMemoryRegion, error)
}

var (
	_ SharedMemoryClient = (*HTTPClient)(nil)
	_ SharedMemoryClient = (*GRPCClient)(nil)
)

// shmPath is /v2/systemsharedmemory[/region/{name}]/{op}.
func shmPath(name, op string) string {
	p := "/v2/systemsharedmemory"
	if name != "" {
		p += "/region/" + url.PathEscape(name)
	}
	return p + "/" + op
}

// shmPost sends one register or unregister request.
func (c *HTTPClient) shmPost(ctx context.Context, path string, body []byte) error {
	op := "POST " + path
	res, err := c.roundTrip(ctx, op, http.MethodPost, path, body)
	if err != nil {
		return err
	}
	if res.status != http.StatusOK {
		return c.statusError(op, http.MethodPost, path, res, false)
	}
	return nil
}

func (c *HTTPClient) RegisterSystemSharedMemory(ctx context.Context, name, key string, offset, size uint64) error {
	if name == "" {
		return errors.New("register system shared memory: no region name")
	}
	body, err := json.Marshal(struct {
		Key      string `json:"key"`
		Offset   uint64 `json:"offset"`
		ByteSize uint64 `json:"byte_size"`
	}{key, offset, size})
	if err != nil {
		return err
	}
	return c.shmPost(ctx, shmPath(name, "register"), body)
}

func (c *HTTPClient) UnregisterSystemSharedMemory(ctx context.Context, name string) error {
	return c.shmPost(ctx, shmPath(name, "unregister"), nil)
}

// SystemSharedMemoryStatus reads Triton's HTTP answer, a bare JSON array.
func (c *HTTPClient) SystemSharedMemoryStatus(ctx context.Context, name string) ([]SharedMemoryRegion, error) {
	path := shmPath(name, "status")
	op := "GET " + path
	res, err := c.roundTrip(ctx, op, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if res.status != http.StatusOK {
		return nil, c.statusError(op, http.MethodGet, path, res, false)
	}
	var out []SharedMemoryRegion
	if err := json.Unmarshal(res.body, &out); err != nil {
		return nil, protocolError(op, "response is not a JSON array of regions", err)
	}
	sortRegions(out)
	return out, nil
}

func sortRegions(r []SharedMemoryRegion) {
	sort.Slice(r, func(i, j int) bool { return r[i].Name < r[j].Name })
}

func (c *GRPCClient) RegisterSystemSharedMemory(ctx context.Context, name, key string, offset, size uint64) error {
	if name == "" {
		return errors.New("register system shared memory: no region name")
	}
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	_, err := c.stub.SystemSharedMemoryRegister(ctx, &inferencepb.SystemSharedMemoryRegisterRequest{Name: name, Key: key, Offset: offset, ByteSize: size})
	if err != nil {
		return grpcError(ctx, fmt.Sprintf("SystemSharedMemoryRegister %q", name), err)
	}
	return nil
}

func (c *GRPCClient) UnregisterSystemSharedMemory(ctx context.Context, name string) error {
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	_, err := c.stub.SystemSharedMemoryUnregister(ctx, &inferencepb.SystemSharedMemoryUnregisterRequest{Name: name})
	if err != nil {
		return grpcError(ctx, fmt.Sprintf("SystemSharedMemoryUnregister %q", name), err)
	}
	return nil
}

func (c *GRPCClient) SystemSharedMemoryStatus(ctx context.Context, name string) ([]SharedMemoryRegion, error) {
	ctx, cancel := c.controlCtx(ctx)
	defer cancel()
	r, err := c.stub.SystemSharedMemoryStatus(ctx, &inferencepb.SystemSharedMemoryStatusRequest{Name: name})
	if err != nil {
		return nil, grpcError(ctx, fmt.Sprintf("SystemSharedMemoryStatus %q", name), err)
	}
	out := make([]SharedMemoryRegion, 0, len(r.GetRegions()))
	for _, s := range r.GetRegions() {
		out = append(out, SharedMemoryRegion{Name: s.GetName(), Key: s.GetKey(), Offset: s.GetOffset(), ByteSize: s.GetByteSize()})
	}
	sortRegions(out)
	return out, nil
}

// inSharedMemory reports whether canonical tensor parameters place the
// tensor in a shared memory region.
func inSharedMemory(params map[string]any) bool {
	_, ok := params[ParamSharedMemoryRegion]
	return ok
}

// checkInput checks an input given its canonical parameters p. An input
// in shared memory has no Data (the server reads the region); its offset
// and byte size are made int64, the type Triton requires.
func checkInput(t *Tensor, p map[string]any) error {
	if !inSharedMemory(p) {
		return CheckTensor(t)
	}
	if t.Name == "" {
		return errors.New("tensor has no name")
	}
	if _, err := datatype.Parse(t.Datatype); err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if len(t.Data) > 0 {
		return fmt.Errorf("tensor %q names shared memory region %v and also has %d bytes of Data; give one or the other", t.Name, p[ParamSharedMemoryRegion], len(t.Data))
	}
	if err := checkSHMParams(p); err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return nil
}

// checkSHMParams checks the canonical shared-memory parameters p of a
// tensor (an input, or a requested output) and makes its offset and byte
// size int64, the type Triton requires.
func checkSHMParams(p map[string]any) error {
	if r, ok := p[ParamSharedMemoryRegion].(string); !ok || r == "" {
		return fmt.Errorf("%s must be a non-empty string", ParamSharedMemoryRegion)
	}
	if _, ok := p[ParamSharedMemoryByteSize]; !ok {
		return fmt.Errorf("%s needs %s", ParamSharedMemoryRegion, ParamSharedMemoryByteSize)
	}
	for _, k := range []string{ParamSharedMemoryOffset, ParamSharedMemoryByteSize} {
		switch v := p[k].(type) {
		case nil:
		case int64:
			if v < 0 {
				return fmt.Errorf("%s is %d; it must not be negative", k, v)
			}
		case uint64:
			if v > math.MaxInt64 {
				return fmt.Errorf("%s is %d, too large", k, v)
			}
			p[k] = int64(v)
		default:
			return fmt.Errorf("%s is %T; it must be an integer", k, v)
		}
	}
	return nil
}
