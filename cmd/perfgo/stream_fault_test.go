package main

// Fault injection on streams (issue 10): perfgo sending the decoupled
// repeat model's requests on gRPC ModelStreamInfer and HTTP generate_stream
// through the faultserver proxy, which cuts a stream mid-request, answers
// an error, withholds the final response or garbles a response. Whatever
// the stream does, the run ends, its failures are counted in their class
// in stdout, the CSV and the JSON, and the exit code is the documented
// one: 99 when every request of a window failed, 4 when a reported level
// is over --failure-limit.

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/server/faultserver"
)

// streamResponses is what repeat answers a request of --shape IN:8 with.
const streamResponses = 8

// streamTarget sends the repeat model's requests to the proxy: decoupled,
// so on streams without --streaming.
func streamTarget(p *faultserver.Proxy, proto string) []string {
	addr := p.HTTPAddr
	if proto == "grpc" {
		addr = p.GRPCAddr
	}
	return []string{"-m", "repeat", "--shape", "IN:8", "-i", proto, "-u", addr}
}

// streamFaultFlags: a 400 ms window outlasts a 300 ms request timeout, so
// that a window of requests that never end sees some of them fail instead
// of none complete.
var streamFaultFlags = []string{"-p", "400", "-r", "3", "-s", "1000",
	"--request-timeout", "300ms", "--drain-timeout", "300ms", "--control-timeout", "2s"}

// streamClass is the failure class each stream fault is counted under, by
// protocol. A cut gRPC stream ends with status OK before the request's
// final response; a cut HTTP stream is a connection aborted mid-body (a
// clean end of the body ends a generate_stream request normally).
var streamClass = map[faultserver.Kind]map[string]string{
	faultserver.StreamCut:     {"grpc": "stream_closed", "http": "truncated"},
	faultserver.StreamError:   {"grpc": "grpc:STREAM_ERROR", "http": "http:STREAM_ERROR"},
	faultserver.NoFinal:       {"grpc": "timeout", "http": "timeout"},
	faultserver.StreamGarbage: {"grpc": "protocol", "http": "protocol"},
}

var streamKinds = []faultserver.Kind{faultserver.StreamCut, faultserver.StreamError, faultserver.NoFinal, faultserver.StreamGarbage}

// Every request meets the fault: the first window fails whole, which ends
// the run with exit 99 (not 4: no level is reported as measured), and the
// level's failures are still on stdout, in the CSV and in the JSON.
func TestStreamFaultEveryRequest(t *testing.T) {
	p := faultserver.Start(t)
	for _, kind := range streamKinds {
		for _, proto := range []string{"grpc", "http"} {
			t.Run(kind.String()+" "+proto, func(t *testing.T) {
				p.Set(faultserver.Fault{Kind: kind})
				class := streamClass[kind][proto]
				r := runFault(t, slices.Concat(streamTarget(p, proto), closedLoop, streamFaultFlags)...)
				r.check(t, faultWant{code: exitError, classes: []string{class},
					say: []string{"requests of a window failed", class}})
			})
		}
	}
}

// Requests that never get their final response, in open loop too: the
// request timeout ends each of them, so the level ends. Without a request
// timeout (the default outlasts the run) the drain cancels them at the
// level's end: no window completed a request (exit 3), and the cancelled
// requests are in the JSON's "drained".
func TestStreamFaultNoFinalEnds(t *testing.T) {
	p := faultserver.Start(t)
	noRequestTimeout := []string{"-p", "300", "-r", "3", "-s", "1000", "--drain-timeout", "300ms", "--control-timeout", "2s"}
	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto+" open loop", func(t *testing.T) {
			p.Set(faultserver.Fault{Kind: faultserver.NoFinal})
			r := runFault(t, slices.Concat(streamTarget(p, proto), openLoop, streamFaultFlags)...)
			r.check(t, faultWant{code: exitError, classes: []string{"timeout"}})
		})
		t.Run(proto+" drain", func(t *testing.T) {
			p.Set(faultserver.Fault{Kind: faultserver.NoFinal})
			r := runFault(t, slices.Concat(streamTarget(p, proto), closedLoop, noRequestTimeout)...)
			r.check(t, faultWant{code: exitNoValidRequests, say: []string{"cancelled after the 300ms drain timeout"}})
			if r.report == nil || len(r.report.Drained.Failures) != 1 || r.report.Drained.Failures[0].Class != "cancelled" || r.report.Drained.Failures[0].Count == 0 {
				t.Errorf("JSON drained %+v; want the cancelled requests", r.report)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if !p.NoneHeld(ctx) {
				t.Errorf("%d requests still held by the proxy 5 s after the run: perfgo left their streams open", p.Held())
			}
		})
	}
}

// One request in 5 meets the fault: the level is still measured and
// reported, with a fifth of its requests failed in their class. Over the
// default 1% failure limit that is exit 4; under --failure-limit 50 the
// run completes (exit 0) with the same failures counted. The stream
// statistics describe the successful requests only: each had all 8
// responses, and the responses of failed requests are not among them.
func TestStreamFaultOneIn5(t *testing.T) {
	p := faultserver.Start(t)
	for _, kind := range streamKinds {
		for _, proto := range []string{"grpc", "http"} {
			for _, limit := range []struct {
				flags []string
				code  int
			}{{nil, exitFailures}, {[]string{"--failure-limit", "50"}, exitOK}} {
				name := kind.String() + " " + proto
				if limit.flags != nil {
					name += " limit 50"
				}
				t.Run(name, func(t *testing.T) {
					p.Set(faultserver.Fault{Kind: kind, Every: 5})
					class := streamClass[kind][proto]
					r := runFault(t, slices.Concat(streamTarget(p, proto), closedLoop, streamFaultFlags, limit.flags)...)
					r.check(t, faultWant{code: limit.code, classes: []string{class}})
					if r.report != nil {
						checkStreamLevels(t, r.report.Levels)
					}
				})
			}
		}
	}
}

// checkStreamLevels: every level reported has failures between 10% and
// 30% of its requests (one in 5 meets the fault) and 8 responses per
// successful request.
func checkStreamLevels(t *testing.T, levels []faultLevel) {
	t.Helper()
	if len(levels) == 0 {
		t.Fatal("no level reported")
	}
	for _, l := range levels {
		if l.Total == nil || l.Client == nil || l.Client.Stream == nil {
			t.Errorf("level %v lacks total, client or client.stream", l.Value)
			continue
		}
		failed, all := l.Total.Failed, l.Total.Failed+l.Total.Requests // requests: the succeeded ones
		if share := float64(failed) / float64(all); share < 0.1 || share > 0.3 {
			t.Errorf("level %v: %d of %d requests failed (%.0f%%); one in 5 meets the fault", l.Value, failed, all, 100*share)
		}
		c, st := l.Client, l.Client.Stream
		if c.Requests == 0 || st.Responses != streamResponses*c.Requests || st.PerRequest != streamResponses {
			t.Errorf("level %v: %d successful requests, %d responses, %v per request; want %d per request",
				l.Value, c.Requests, st.Responses, st.PerRequest, streamResponses)
		}
	}
}
