package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metricsCollector exposes Triton's nv_inference_* metrics. It reads the
// same counters as the statistics extension at scrape time, so the two can
// never disagree and the request path pays nothing for metrics.
type metricsCollector struct {
	core  *core
	descs [13]*prometheus.Desc
}

const (
	mSuccess = iota
	mFailure
	mCount
	mExecCount
	mRequestDuration
	mQueueDuration
	mInputDuration
	mInferDuration
	mOutputDuration
	mPending
	// perfgo's own, for the stateful models: what Triton only logs.
	mSeqOpen
	mSeqExpired
	mSeqSerial
)

func newMetricsCollector(c *core) *metricsCollector {
	labels := []string{"model", "version"}
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, labels, nil) }
	return &metricsCollector{core: c, descs: [13]*prometheus.Desc{
		mSuccess:         d("nv_inference_request_success", "Number of successful inference requests, all batch sizes"),
		mFailure:         d("nv_inference_request_failure", "Number of failed inference requests, all batch sizes"),
		mCount:           d("nv_inference_count", "Number of inferences performed (does not include cached requests)"),
		mExecCount:       d("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)"),
		mRequestDuration: d("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds (includes cached requests)"),
		mQueueDuration:   d("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds (includes cached requests)"),
		mInputDuration:   d("nv_inference_compute_input_duration_us", "Cumulative compute input duration in microseconds (does not include cached requests)"),
		mInferDuration:   d("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds (does not include cached requests)"),
		mOutputDuration:  d("nv_inference_compute_output_duration_us", "Cumulative inference compute output duration in microseconds (does not include cached requests)"),
		mPending:         d("nv_inference_pending_request_count", "Instantaneous number of pending requests awaiting execution per-model."),
		mSeqOpen:         d("perfgo_sequence_open", "Sequences open now (idle ones expired first), stateful models only"),
		mSeqExpired:      d("perfgo_sequence_expired_total", "Sequences ended for idling over max_sequence_idle_microseconds, stateful models only"),
		mSeqSerial:       d("perfgo_sequence_serial_violations_total", "Requests that arrived while another request of their sequence was in flight, stateful models only"),
	}}
}

func (mc *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range mc.descs {
		ch <- d
	}
}

func (mc *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range mc.core.names {
		s := mc.core.models[name].stats
		counter := func(i int, v uint64) {
			ch <- prometheus.MustNewConstMetric(mc.descs[i], prometheus.CounterValue, float64(v), name, modelVersion)
		}
		us := func(d *duration) uint64 { return d.ns.Load() / 1000 }
		counter(mSuccess, s.success.count.Load())
		counter(mFailure, s.fail.count.Load())
		counter(mCount, s.inferenceCount.Load())
		counter(mExecCount, s.executionCount.Load())
		counter(mRequestDuration, us(&s.success))
		counter(mQueueDuration, us(&s.queue))
		counter(mInputDuration, us(&s.computeInput))
		counter(mInferDuration, us(&s.computeInfer))
		counter(mOutputDuration, us(&s.computeOutput))
		ch <- prometheus.MustNewConstMetric(mc.descs[mPending], prometheus.GaugeValue, float64(s.queued.Load()), name, modelVersion)
		if b, ok := mc.core.models[name].backend.(*sequenceBackend); ok {
			st := b.snapshot()
			ch <- prometheus.MustNewConstMetric(mc.descs[mSeqOpen], prometheus.GaugeValue, float64(len(st.Open)), name, modelVersion)
			counter(mSeqExpired, st.Expired)
			counter(mSeqSerial, st.SerialViolations)
		}
	}
}
