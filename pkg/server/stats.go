package server

import (
	"sync/atomic"
	"time"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// duration is a cumulative count and total time, updated with atomics so
// that recording takes no lock.
type duration struct {
	count atomic.Uint64
	ns    atomic.Uint64
}

func (d *duration) add(t time.Duration) {
	if t < 0 {
		t = 0
	}
	d.count.Add(1)
	d.ns.Add(uint64(t))
}

func (d *duration) proto() *inferencepb.StatisticDuration {
	return &inferencepb.StatisticDuration{Count: d.count.Load(), Ns: d.ns.Load()}
}

// batchStat is Triton's per-batch-size execution statistic.
type batchStat struct {
	computeInput, computeInfer, computeOutput duration
}

// modelStats are one model's cumulative statistics since the server
// started, the data behind both the statistics extension and /metrics.
//
// Per request: success or fail, and (on success) queue and the three
// compute phases. Per execution: execution count, inference count (batch
// elements) and the batch statistic. Success is recorded after the
// execution, so a reader that sees success.count == K also sees the K
// requests' executions.
type modelStats struct {
	success, fail                             duration
	queue                                     duration
	cacheHit, cacheMiss                       duration
	computeInput, computeInfer, computeOutput duration
	inferenceCount, executionCount            atomic.Uint64
	lastInference                             atomic.Int64 // ms since the epoch
	inflight                                  atomic.Int64 // requests inside the server
	queued                                    atomic.Int64 // requests waiting for an instance
	batches                                   []batchStat  // index: batch size; 0 for non-batching models
}

func newModelStats(maxBatch int) *modelStats {
	return &modelStats{batches: make([]batchStat, max(maxBatch, 1)+1)}
}

// recordExecution records one model execution over batch elements.
func (s *modelStats) recordExecution(batch int, in, infer, out time.Duration) {
	s.executionCount.Add(1)
	s.inferenceCount.Add(uint64(batch))
	if batch >= 0 && batch < len(s.batches) {
		b := &s.batches[batch]
		b.computeInput.add(in)
		b.computeInfer.add(infer)
		b.computeOutput.add(out)
	}
}

// recordSuccess records one successful request.
func (s *modelStats) recordSuccess(total time.Duration, pt *phaseTimes, end time.Time) {
	s.queue.add(pt.queue)
	s.computeInput.add(pt.computeInput)
	s.computeInfer.add(pt.computeInfer)
	s.computeOutput.add(pt.computeOutput)
	s.lastInference.Store(end.UnixMilli())
	s.success.add(total)
}

// recordHit records one request answered from the response cache: a
// success with no queue and no compute, and the cache lookup.
func (s *modelStats) recordHit(total, lookup time.Duration, end time.Time) {
	s.cacheHit.add(lookup)
	s.queue.add(0)
	s.lastInference.Store(end.UnixMilli())
	s.success.add(total)
}

// snapshot returns the statistics in protocol form.
func (s *modelStats) snapshot(name string) *inferencepb.ModelStatistics {
	ms := &inferencepb.ModelStatistics{
		Name:           name,
		Version:        modelVersion,
		LastInference:  uint64(max(s.lastInference.Load(), 0)),
		InferenceCount: s.inferenceCount.Load(),
		ExecutionCount: s.executionCount.Load(),
		InferenceStats: &inferencepb.InferStatistics{
			Success:       s.success.proto(),
			Fail:          s.fail.proto(),
			Queue:         s.queue.proto(),
			ComputeInput:  s.computeInput.proto(),
			ComputeInfer:  s.computeInfer.proto(),
			ComputeOutput: s.computeOutput.proto(),
			CacheHit:      s.cacheHit.proto(),
			CacheMiss:     s.cacheMiss.proto(),
		},
		BatchStats:    []*inferencepb.InferBatchStatistics{},
		MemoryUsage:   []*inferencepb.MemoryUsage{},
		ResponseStats: map[string]*inferencepb.InferResponseStatistics{},
	}
	for size := range s.batches {
		b := &s.batches[size]
		if b.computeInfer.count.Load() == 0 {
			continue
		}
		ms.BatchStats = append(ms.BatchStats, &inferencepb.InferBatchStatistics{
			BatchSize:     uint64(size),
			ComputeInput:  b.computeInput.proto(),
			ComputeInfer:  b.computeInfer.proto(),
			ComputeOutput: b.computeOutput.proto(),
		})
	}
	return ms
}
