package loadgen

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/result"
)

// A statistics call is bounded so that a stalled server cannot hold a
// window boundary (and the run) hostage: by the window's length, within
// these limits (a call normally takes well under a millisecond).
const (
	minStatsTimeout = 500 * time.Millisecond
	maxStatsTimeout = 10 * time.Second
)

// statsTimeoutFor bounds each statistics call of a run.
func statsTimeoutFor(o Options) time.Duration {
	return min(max(o.MeasurementInterval, minStatsTimeout), maxStatsTimeout)
}

// serverStats snapshots the server's cumulative statistics at window
// boundaries and turns consecutive snapshots into per-window deltas.
type serverStats struct {
	src            StatsSource // nil: no statistics
	model, version string
	composing      []ComposingModel
	timeout        time.Duration
	prev           *inferencepb.ModelStatisticsResponse
	warn           func(string)
	warnedVersions bool
	// warnedComposing: a composing model had no statistics (said once).
	warnedComposing bool
	// down: the last call failed. Every window boundary asks again, so
	// the Server block comes back when the server does.
	down bool
}

// begin takes the snapshot a level's first window is measured against.
func (s *serverStats) begin(ctx context.Context) {
	s.prev = s.snapshot(ctx)
}

// next takes a snapshot and returns the delta since the previous one, nil
// when statistics are unavailable.
func (s *serverStats) next(ctx context.Context) *result.ServerStats {
	cur := s.snapshot(ctx)
	prev := s.prev
	s.prev = cur
	if prev == nil || cur == nil {
		return nil
	}
	d, several := statsDelta(prev, cur, s.model, s.version)
	if d != nil {
		d.Composing = s.composingDeltas(prev, cur, s.composing)
	}
	if several && !s.warnedVersions {
		s.warnedVersions = true
		s.warn(fmt.Sprintf("several versions of model %q served requests; reporting version %s: pass a version to choose", s.model, d.Version))
	}
	return d
}

func (s *serverStats) snapshot(ctx context.Context) *inferencepb.ModelStatisticsResponse {
	if s.src == nil || ctx.Err() != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	model, version := s.model, s.version
	if len(s.composing) > 0 {
		model, version = "", "" // every model's, in one call
	}
	r, err := s.src.ModelStatistics(ctx, model, version)
	if err == nil && findModel(r, s.model) == nil {
		err = fmt.Errorf("the response has no statistics for model %q", s.model)
	}
	if err != nil {
		// Reported once per outage; the windows meanwhile have no server block.
		if !s.down {
			s.warn(fmt.Sprintf("server statistics unavailable: %v; asking again at every window", err))
		}
		s.down = true
		return nil
	}
	if s.down {
		s.down = false
		s.warn("server statistics are available again")
	}
	return r
}

// composingDeltas are the deltas of the composing models, in the order
// given; a model the server gave no statistics for is left out, with a
// warning once.
func (s *serverStats) composingDeltas(prev, cur *inferencepb.ModelStatisticsResponse, models []ComposingModel) []result.ServerStats {
	var out []result.ServerStats
	for _, m := range models {
		d, _ := statsDelta(prev, cur, m.Name, m.Version)
		if d == nil {
			if !s.warnedComposing {
				s.warnedComposing = true
				s.warn(fmt.Sprintf("the server gives no statistics for composing model %q%s; its block is left out", m.Name, versionNote(m.Version)))
			}
			continue
		}
		d.Composing = s.composingDeltas(prev, cur, m.Composing)
		out = append(out, *d)
	}
	return out
}

func versionNote(v string) string {
	if v == "" {
		return ""
	}
	return " version " + v
}

func findModel(r *inferencepb.ModelStatisticsResponse, model string) *inferencepb.ModelStatistics {
	for _, m := range r.GetModelStats() {
		if m.GetName() == model {
			return m
		}
	}
	return nil
}

// statsDelta differences two cumulative snapshots for model. With version
// empty it picks, as perf_analyzer does, the version whose queue count
// moved (the highest when several did, reporting several=true), else the
// highest version.
func statsDelta(prev, cur *inferencepb.ModelStatisticsResponse, model, version string) (d *result.ServerStats, several bool) {
	var pick *inferencepb.ModelStatistics
	moved := 0
	for _, m := range cur.GetModelStats() {
		if m.GetName() != model || (version != "" && m.GetVersion() != version) {
			continue
		}
		if version == "" {
			p := versionOf(prev, model, m.GetVersion())
			if m.GetInferenceStats().GetQueue().GetCount() > p.GetInferenceStats().GetQueue().GetCount() {
				if moved == 0 || versionLess(pick.GetVersion(), m.GetVersion()) {
					pick = m
				}
				moved++
				continue
			}
			if moved > 0 {
				continue
			}
		}
		if pick == nil || versionLess(pick.GetVersion(), m.GetVersion()) {
			pick = m
		}
	}
	if pick == nil {
		return nil, false
	}
	return modelDelta(versionOf(prev, model, pick.GetVersion()), pick), moved > 1
}

func versionOf(r *inferencepb.ModelStatisticsResponse, model, version string) *inferencepb.ModelStatistics {
	for _, m := range r.GetModelStats() {
		if m.GetName() == model && m.GetVersion() == version {
			return m
		}
	}
	return nil
}

// versionLess orders versions numerically when both are numbers.
func versionLess(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		return x < y
	}
	return cmp.Less(a, b)
}

// modelDelta is cur - prev; prev may be nil (the version appeared).
func modelDelta(prev, cur *inferencepb.ModelStatistics) *result.ServerStats {
	p, c := prev.GetInferenceStats(), cur.GetInferenceStats()
	return &result.ServerStats{
		Model:          cur.GetName(),
		Version:        cur.GetVersion(),
		InferenceCount: sub(prev.GetInferenceCount(), cur.GetInferenceCount()),
		ExecutionCount: sub(prev.GetExecutionCount(), cur.GetExecutionCount()),
		Success:        statDelta(p.GetSuccess(), c.GetSuccess()),
		Fail:           statDelta(p.GetFail(), c.GetFail()),
		Queue:          statDelta(p.GetQueue(), c.GetQueue()),
		ComputeInput:   statDelta(p.GetComputeInput(), c.GetComputeInput()),
		ComputeInfer:   statDelta(p.GetComputeInfer(), c.GetComputeInfer()),
		ComputeOutput:  statDelta(p.GetComputeOutput(), c.GetComputeOutput()),
		CacheHit:       statDelta(p.GetCacheHit(), c.GetCacheHit()),
		CacheMiss:      statDelta(p.GetCacheMiss(), c.GetCacheMiss()),
	}
}

func statDelta(p, c *inferencepb.StatisticDuration) result.Stat {
	return result.Stat{Count: sub(p.GetCount(), c.GetCount()), Ns: sub(p.GetNs(), c.GetNs())}
}

// sub is cur - prev for a cumulative counter. A counter that went down means
// the server restarted: then everything it counted since is the delta.
func sub(prev, cur uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// addServer sums server deltas of consecutive windows, composing models
// matched by name and version; neither argument is changed.
func addServer(a, b *result.ServerStats) *result.ServerStats {
	if a == nil {
		c := *b
		return &c
	}
	s := *a
	s.Composing = addComposing(a.Composing, b.Composing)
	s.InferenceCount += b.InferenceCount
	s.ExecutionCount += b.ExecutionCount
	for _, p := range []struct{ dst, src *result.Stat }{
		{&s.Success, &b.Success}, {&s.Fail, &b.Fail}, {&s.Queue, &b.Queue},
		{&s.ComputeInput, &b.ComputeInput}, {&s.ComputeInfer, &b.ComputeInfer},
		{&s.ComputeOutput, &b.ComputeOutput}, {&s.CacheHit, &b.CacheHit}, {&s.CacheMiss, &b.CacheMiss},
	} {
		p.dst.Count += p.src.Count
		p.dst.Ns += p.src.Ns
	}
	return &s
}

func addComposing(a, b []result.ServerStats) []result.ServerStats {
	out := slices.Clone(a)
	for i := range b {
		j := slices.IndexFunc(out, func(m result.ServerStats) bool { return m.Model == b[i].Model && m.Version == b[i].Version })
		if j < 0 {
			out = append(out, *addServer(nil, &b[i]))
			continue
		}
		out[j] = *addServer(&out[j], &b[i])
	}
	return out
}
