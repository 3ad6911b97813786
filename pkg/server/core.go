package server

import (
	"context"
	"sort"
	"sync/atomic"
	"time"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// core is the one place requests are executed: both front ends decode into
// a request and call infer or stream, so behaviour and statistics are the
// same whatever the transport.
type core struct {
	models map[string]*model
	names  []string // sorted model names, for listings
	ready  atomic.Bool
	shm    *shmRegistry
}

func newCore(models []*model) *core {
	c := &core{models: make(map[string]*model, len(models)), shm: newSHMRegistry()}
	for _, m := range models {
		c.models[m.name] = m
		c.names = append(c.names, m.name)
	}
	sort.Strings(c.names)
	return c
}

// lookup resolves a model name and optional version.
func (c *core) lookup(name, version string) (*model, error) {
	if name == "" {
		return nil, errorf(kindInvalid, "no model name given; name one of: %s", c.modelList())
	}
	m, ok := c.models[name]
	if !ok {
		return nil, errorf(kindNotFound, "unknown model %q; this server has: %s", name, c.modelList())
	}
	if version != "" && version != modelVersion {
		return nil, errorf(kindNotFound, "model %q has no version %q; its only version is %q", name, version, modelVersion)
	}
	return m, nil
}

func (c *core) modelList() string {
	s := ""
	for i, n := range c.names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// infer runs a request for a model that answers once per request and fills res.
func (c *core) infer(ctx context.Context, r *request, res *response) error {
	m, err := c.lookup(r.modelName, r.version)
	if err != nil {
		return err
	}
	if m.decoupled {
		return c.fail(m, r, errorf(kindInvalid, "model %q is decoupled (it streams several responses per request); use gRPC ModelStreamInfer", m.name))
	}
	m.stats.inflight.Add(1)
	defer m.stats.inflight.Add(-1)
	if err := c.admit(m, r); err != nil {
		return c.fail(m, r, err)
	}
	r.times = phaseTimes{}
	// With a response cache, as in Triton, a hit counts its lookup as
	// cache_hit and no compute; a miss counts lookup and insertion as
	// cache_miss, and its compute as usual.
	var key []byte
	var lookup time.Duration
	hit := false
	if m.cache != nil {
		t0 := time.Now()
		key = m.cache.key(r)
		hit = m.cache.get(key, res)
		lookup = time.Since(t0)
	}
	if !hit {
		if err := m.backend.execute(ctx, m, r, &r.times, res); err != nil {
			return c.fail(m, r, err)
		}
		if m.cache != nil {
			t1 := time.Now()
			m.cache.put(key, res)
			lookup += time.Since(t1)
		}
	}
	if err := c.shm.writeOutputs(r, res); err != nil {
		return c.fail(m, r, err)
	}
	end := time.Now()
	switch {
	case hit:
		m.stats.recordHit(end.Sub(r.received), lookup, end)
	case m.cache != nil:
		m.stats.cacheMiss.add(lookup)
		fallthrough
	default:
		m.stats.recordSuccess(end.Sub(r.received), &r.times, end)
	}
	return nil
}

// stream runs a request on a decoupled model, calling emit per response. The
// success duration ends when the model has produced its last response.
func (c *core) stream(ctx context.Context, r *request, emit func(*response) error) error {
	m, err := c.lookup(r.modelName, r.version)
	if err != nil {
		return err
	}
	if !m.decoupled {
		var res response
		if err := c.infer(ctx, r, &res); err != nil {
			return err
		}
		return emit(&res)
	}
	m.stats.inflight.Add(1)
	defer m.stats.inflight.Add(-1)
	if r.shmOutputs {
		return c.fail(m, r, errorf(kindUnsupported, "model %q is decoupled; perfgo serve cannot write its responses to shared memory: receive outputs in the responses", m.name))
	}
	if err := c.admit(m, r); err != nil {
		return c.fail(m, r, err)
	}
	r.times = phaseTimes{}
	if err := m.streams.stream(ctx, m, r, &r.times, emit); err != nil {
		return c.fail(m, r, err)
	}
	end := time.Now()
	m.stats.recordSuccess(end.Sub(r.received), &r.times, end)
	return nil
}

func (c *core) admit(m *model, r *request) error {
	if !c.ready.Load() {
		return errorf(kindUnavailable, "server is not ready (starting or shutting down); retry later")
	}
	if err := c.shm.readInputs(r); err != nil {
		return err
	}
	return m.validate(r)
}

func (c *core) fail(m *model, r *request, err error) error {
	m.stats.fail.add(time.Since(r.received))
	return err
}

// statistics returns cumulative statistics for one model, or all when name is "".
func (c *core) statistics(name, version string) (*inferencepb.ModelStatisticsResponse, error) {
	out := &inferencepb.ModelStatisticsResponse{ModelStats: []*inferencepb.ModelStatistics{}}
	if name == "" {
		if version != "" {
			return nil, errorf(kindInvalid, "a version needs a model name; name the model or drop the version")
		}
		for _, n := range c.names {
			out.ModelStats = append(out.ModelStats, c.models[n].stats.snapshot(n))
		}
		return out, nil
	}
	m, err := c.lookup(name, version)
	if err != nil {
		return nil, err
	}
	out.ModelStats = append(out.ModelStats, m.stats.snapshot(m.name))
	return out, nil
}

// repositoryIndex lists every model; all are always loaded and ready.
func (c *core) repositoryIndex() *inferencepb.RepositoryIndexResponse {
	out := &inferencepb.RepositoryIndexResponse{}
	for _, n := range c.names {
		out.Models = append(out.Models, &inferencepb.RepositoryIndexResponse_ModelIndex{Name: n, Version: modelVersion, State: "READY"})
	}
	return out
}

// modelReady reports whether a model can take requests now.
func (c *core) modelReady(name, version string) (bool, error) {
	if _, err := c.lookup(name, version); err != nil {
		return false, err
	}
	return c.ready.Load(), nil
}
