package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/shm"
)

// --shared-memory system: every input of every prepared request is copied
// once into a POSIX shared memory region of its own, registered with the
// server through Triton's system shared-memory extension, and the request
// names the region instead of carrying the bytes; every worker sends the
// same regions, which nobody writes during the run. Every output is
// requested into a region of its own of --output-shared-memory-size bytes
// per batch row, which the server overwrites at each response.
//
// Region names and keys ("perfgo_<pid>_<run>_<n>_<tensor>", "/perfgo_<pid>_<run>_<n>")
// are unique to the run, so that runs sharing a server never collide.
// Unlike perf_analyzer, which unregisters every region on the server
// (other clients' too), perfgo unregisters exactly the regions it
// registered, at the end of the run however it ends.

// shmRegions are the regions a run created, to release at its end. run
// tells this run's regions from those of other runs in the same process
// (tests) and, with the pid, from other processes'.
type shmRegions struct {
	cl      client.SharedMemoryClient
	run     uint32
	regions []*shmRegion
}

type shmRegion struct {
	name       string
	mem        *shm.Region
	registered bool
}

// add creates a region of size bytes holding data, named after tensor,
// and registers it whole. What was created is released by release, also
// when add fails.
func (rs *shmRegions) add(ctx context.Context, tensor string, size int64, data []byte) (string, error) {
	n := len(rs.regions)
	name := fmt.Sprintf("perfgo_%d_%x_%d_%s", os.Getpid(), rs.run, n, tensor)
	mem, err := shm.Create(fmt.Sprintf("/perfgo_%d_%x_%d", os.Getpid(), rs.run, n), size)
	if err != nil {
		return "", fmt.Errorf("--shared-memory system: %s: %w", tensor, err)
	}
	r := &shmRegion{name: name, mem: mem}
	rs.regions = append(rs.regions, r)
	copy(mem.Bytes(), data)
	if err := rs.cl.RegisterSystemSharedMemory(ctx, name, mem.Key(), 0, uint64(size)); err != nil {
		return "", fmt.Errorf("--shared-memory system: register region %s for %s: %w", name, tensor, err)
	}
	r.registered = true
	return name, nil
}

// placeInSharedMemory moves t's inputs into registered regions and asks
// for its outputs in regions of their own. The regions are returned even
// with an error: release them in every case.
func (o *profileOptions) placeInSharedMemory(ctx context.Context, control client.Client, t *target) (*shmRegions, error) {
	sc, ok := control.(client.SharedMemoryClient)
	if !ok {
		return nil, fmt.Errorf("--shared-memory system: the %s client has no shared-memory calls", o.Protocol)
	}
	for _, r := range t.requests {
		if len(r.Expected) > 0 {
			return nil, errors.New("--shared-memory system cannot check validation_data: outputs in shared memory come back without data; drop validation_data or use --shared-memory none")
		}
	}
	meta, err := control.ServerMetadata(ctx)
	if err != nil {
		return nil, serverError(o, "server metadata", err)
	}
	if !slices.Contains(meta.GetExtensions(), "system_shared_memory") {
		return nil, fmt.Errorf("--shared-memory system: the server at %s (%s) does not offer the system_shared_memory extension (it lists %s); use --shared-memory none", o.URL, o.Protocol, strings.Join(meta.GetExtensions(), ", "))
	}
	rs := &shmRegions{cl: sc, run: rand.Uint32()}
	if len(t.requests) == 0 {
		if t.tensors, err = rs.placeInputs(ctx, t.tensors); err != nil {
			return rs, err
		}
	}
	for i := range t.requests {
		if t.requests[i].Inputs, err = rs.placeInputs(ctx, t.requests[i].Inputs); err != nil {
			return rs, err
		}
	}
	if len(t.outputs) == 0 {
		for _, out := range t.model.Metadata.GetOutputs() {
			t.outputs = append(t.outputs, out.GetName())
		}
	}
	size := o.OutputSharedMemorySize * int64(o.BatchSize)
	t.outputParams = make(map[string]map[string]any, len(t.outputs))
	for _, out := range t.outputs {
		name, err := rs.add(ctx, out, size, nil)
		if err != nil {
			return rs, err
		}
		t.outputParams[out] = map[string]any{
			client.ParamSharedMemoryRegion:   name,
			client.ParamSharedMemoryByteSize: size,
		}
	}
	return rs, nil
}

// placeInputs returns copies of ins whose bytes are in registered regions
// of their own. An input with no bytes stays as it is.
func (rs *shmRegions) placeInputs(ctx context.Context, ins []client.Tensor) ([]client.Tensor, error) {
	out := slices.Clone(ins)
	for i := range out {
		in := &out[i]
		if len(in.Data) == 0 {
			continue
		}
		name, err := rs.add(ctx, in.Name, int64(len(in.Data)), in.Data)
		if err != nil {
			return nil, err
		}
		params := maps.Clone(in.Parameters)
		if params == nil {
			params = map[string]any{}
		}
		params[client.ParamSharedMemoryRegion] = name
		params[client.ParamSharedMemoryByteSize] = int64(len(in.Data))
		in.Parameters, in.Data = params, nil
	}
	return out, nil
}

// release unregisters the regions perfgo registered, by name (never all
// of the server's), then unmaps and unlinks them. It runs when the run
// has ended, also after Ctrl-C or a failure: with a context of its own,
// bounded by timeout, since the run's may be cancelled.
func (rs *shmRegions) release(ctx context.Context, timeout time.Duration, stderr io.Writer) {
	if rs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var failed []string
	var first error
	for _, r := range rs.regions {
		if r.registered {
			if err := rs.cl.UnregisterSystemSharedMemory(ctx, r.name); err != nil {
				failed = append(failed, r.name)
				if first == nil {
					first = err
				}
			}
		}
		if err := errors.Join(r.mem.Unlink(), r.mem.Close()); err != nil {
			fmt.Fprintf(stderr, "warning: --shared-memory system: %v\n", err)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(stderr, "warning: --shared-memory system: %d of perfgo's regions are still registered on the server (%s): %v\n", len(failed), strings.Join(failed, ", "), first)
	}
	rs.regions = nil
}
