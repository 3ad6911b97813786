package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/result"
)

// failureLines renders one level's blocks and returns perfgo's failure
// lines: "Failed requests" and the failure-limit warning.
func failureLines(t *testing.T, s result.Settings, l result.Level) []string {
	t.Helper()
	var b bytes.Buffer
	if err := Level(&b, s, l, false); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.Contains(line, "Failed requests") || strings.Contains(line, "failure-limit") {
			out = append(out, line)
		}
	}
	return out
}

const overLimit1 = "    [WARNING] More than 1% of the requests at this level failed (--failure-limit): its latency and throughput describe a failing server."

func TestFailureLines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit float64
		edit  func(*result.Level)
		want  []string
	}{
		{
			name: "no failure: no line",
			edit: func(l *result.Level) { l.Total = result.Counts{Requests: 1000} },
		},
		{
			name: "no completed request at all: no line (0%, not NaN)",
			edit: func(l *result.Level) { l.Total, l.Client.Requests = result.Counts{}, 0 },
		},
		{
			name: "failures only in an early window, none in the merged ones",
			edit: func(l *result.Level) {
				l.Client.Requests, l.Client.Failed = 90, 0
				l.Total = result.Counts{Requests: 100, Failed: 3}
				l.Failures = []result.ClassCount{{Class: "timeout", Count: 3}}
			},
			want: []string{"    Failed requests: 3 of 103 (2.91%): timeout 3"},
		},
		{
			name: "totals over every window, not the merged windows",
			edit: func(l *result.Level) {
				l.Client.Requests, l.Client.Failed = 600, 1
				l.Total = result.Counts{Requests: 995, Failed: 5}
			},
			want: []string{"    Failed requests: 5 of 1000 (0.50%)"},
		},
		{
			name: "classes sorted, zero counts left out",
			edit: func(l *result.Level) {
				l.Total = result.Counts{Requests: 9990, Failed: 10}
				l.Failures = []result.ClassCount{{Class: "timeout", Count: 3}, {Class: "cancelled", Count: 0}, {Class: "grpc:UNAVAILABLE", Count: 7}}
			},
			want: []string{"    Failed requests: 10 of 10000 (0.10%): grpc:UNAVAILABLE 7, timeout 3"},
		},
		{
			name: "exactly at the limit: not over, no warning",
			edit: func(l *result.Level) {
				l.Total = result.Counts{Requests: 990, Failed: 10}
			},
			want: []string{"    Failed requests: 10 of 1000 (1.00%)"},
		},
		{
			name: "just over the limit: enough decimals to show it",
			edit: func(l *result.Level) {
				l.Total = result.Counts{Requests: 98999, Failed: 1001}
				l.OverFailureLimit = true
			},
			want: []string{"    Failed requests: 1001 of 100000 (1.001%)", overLimit1},
		},
		{
			name:  "a fractional limit is printed as given",
			limit: 0.5,
			edit: func(l *result.Level) {
				l.Total = result.Counts{Requests: 9900, Failed: 100}
				l.OverFailureLimit = true
			},
			want: []string{"    Failed requests: 100 of 10000 (1.00%)",
				"    [WARNING] More than 0.5% of the requests at this level failed (--failure-limit): its latency and throughput describe a failing server."},
		},
		{
			name: "every request failed",
			edit: func(l *result.Level) {
				l.Client.Requests = 0
				l.Total = result.Counts{Failed: 40}
				l.Failures = []result.ClassCount{{Class: "http:503", Count: 40}}
				l.OverFailureLimit = true
			},
			want: []string{"    Failed requests: 40 of 40 (100.00%): http:503 40", overLimit1},
		},
		{
			name: "a level flagged over the limit warns even if its counts disagree",
			edit: func(l *result.Level) {
				l.Total = result.Counts{Requests: 1000}
				l.OverFailureLimit = true
			},
			want: []string{overLimit1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := paExampleSettings()
			if tc.limit != 0 {
				s.FailureLimit = tc.limit
			}
			l := paExampleRun().Levels[0]
			l.Client.Requests = 500 // the merged windows: fewer than every window
			tc.edit(&l)
			got := failureLines(t, s, l)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("failure lines\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestFormatShare(t *testing.T) {
	for _, tc := range []struct {
		pct, limit float64
		want       string
	}{
		{0, 1, "0.00"},
		{1.43, 1, "1.43"},
		{1, 1, "1.00"},             // at the limit: not over, two decimals
		{0.999, 1, "1.00"},         // under the limit may round up: "more than" is not claimed
		{1.001, 1, "1.001"},        // over the limit must not read as the limit
		{1.0004, 1, "1.0004"},      // …however close
		{1.0000001, 1, "1.000000"}, // six decimals at most
		{0.001, 1, "0.001"},        // a failure must not read as none
		{0.00001, 1, "0.00001"},
		{100, 1, "100.00"},
		{0.5, 0, "0.50"},
		{0.001, 0, "0.001"},
	} {
		if got := FormatShare(tc.pct, tc.limit); got != tc.want {
			t.Errorf("FormatShare(%v, %v) = %q, want %q", tc.pct, tc.limit, got, tc.want)
		}
	}
}

func TestSummaryOverLimit(t *testing.T) {
	run := paExampleRun()
	var b bytes.Buffer
	if err := Summary(&b, run); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "failure limit") {
		t.Errorf("summary without a level over the limit names some:\n%s", b.String())
	}

	run.Levels[0].OverFailureLimit = true
	run.Levels[2].OverFailureLimit = true
	run.Levels[2].Value = 16
	run.Settings.FailureLimit = 2.5
	b.Reset()
	if err := Summary(&b, run); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := `Levels over the 2.5% failure limit: concurrency 1, 16 (see "Failed requests" above)`
	if len(lines) != 5 || lines[4] != want {
		t.Errorf("summary last line = %q (of %d), want %q after the level lines", lines[len(lines)-1], len(lines), want)
	}

	// Unreported levels over the limit are not the exit code's business.
	run = paExampleRun()
	run.Settings.Mode = result.RequestRate
	run.Levels[1].OverFailureLimit = true
	run.Levels[1].Value = 250.5
	run.Unreported = []result.Level{{Value: 999, OverFailureLimit: true}}
	b.Reset()
	if err := Summary(&b, run); err != nil {
		t.Fatal(err)
	}
	if want := "Levels over the 1% failure limit: request rate 250.5 (see \"Failed requests\" above)\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("rate summary = %q, want it to end with %q", b.String(), want)
	}
}

func TestJSONFailures(t *testing.T) {
	run := failuresRun()
	// A level that completed no request: 0%, not NaN (null), and no passes.
	run.Unreported = []result.Level{{Mode: result.Concurrency, Value: 4, OverFailureLimit: false}}
	var b bytes.Buffer
	if err := JSON(&b, run); err != nil {
		t.Fatal(err)
	}
	type failures []struct {
		Class string
		Count uint64
	}
	type level struct {
		Failures failures
		Total    struct {
			Requests, Failed uint64
			FailedPercent    *float64 `json:"failed_percent"`
		}
		OverFailureLimit bool `json:"over_failure_limit"`
		Passes           []struct {
			DurationUs                     float64 `json:"duration_us"`
			Requests, Failed, Issued, Late uint64
			Failures                       failures
			Throughput                     float64
			LatencyUs                      float64 `json:"latency_us"`
			ServerStats                    bool    `json:"server_stats"`
		}
	}
	var doc struct {
		Settings struct {
			FailureLimit   *float64 `json:"failure_limit_percent"`
			RequestTimeout *float64 `json:"request_timeout_ms"`
			DrainTimeout   *float64 `json:"drain_timeout_ms"`
		}
		Levels     []level
		Unreported []level `json:"unreported_levels"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	st := doc.Settings
	if st.FailureLimit == nil || *st.FailureLimit != 1 || st.RequestTimeout == nil || *st.RequestTimeout != 500 ||
		st.DrainTimeout == nil || *st.DrainTimeout != 2000 {
		t.Errorf("settings failure limit, request and drain timeouts = %v, %v, %v; want 1, 500, 2000",
			deref(st.FailureLimit), deref(st.RequestTimeout), deref(st.DrainTimeout))
	}
	if len(doc.Levels) != 3 || len(doc.Unreported) != 1 {
		t.Fatalf("%d levels, %d unreported; want 3 and 1", len(doc.Levels), len(doc.Unreported))
	}

	// Concurrency 1 failed only in its first, unmerged window.
	l0 := doc.Levels[0]
	if l0.Total.Requests != 28700 || l0.Total.Failed != 2 || deref(l0.Total.FailedPercent) != 100*2.0/28702 {
		t.Errorf("early-window total = %+v (%v%%), want 28700 requests, 2 failed, %v%%", l0.Total, deref(l0.Total.FailedPercent), 100*2.0/28702)
	}
	if len(l0.Failures) != 1 || l0.Failures[0].Class != "http:500" || l0.Failures[0].Count != 2 {
		t.Errorf("early-window failures = %+v, want http:500 2", l0.Failures)
	}
	if len(l0.Passes) != 4 {
		t.Fatalf("%d passes, want the early window and the three merged ones", len(l0.Passes))
	}
	p0 := l0.Passes[0]
	if p0.DurationUs != 6e6 || p0.Requests != 7100 || p0.Failed != 2 || p0.LatencyUs != 845 || !p0.ServerStats ||
		len(p0.Failures) != 1 || p0.Failures[0].Class != "http:500" {
		t.Errorf("first pass = %+v, want the early window (6 s, 7100 requests, 2 failed http:500, 845 µs)", p0)
	}
	if last := l0.Passes[3]; last.Failed != 0 || last.Failures == nil || len(last.Failures) != 0 {
		t.Errorf("merged pass = %+v, want no failure and failures []", last)
	}
	if l0.OverFailureLimit {
		t.Error("concurrency 1 is under the limit")
	}

	// Concurrency 3 is over the limit; pass failures sorted by class.
	l2 := doc.Levels[2]
	if !l2.OverFailureLimit || l2.Total.Failed != 600 {
		t.Errorf("concurrency 3: over %v, failed %d; want over, 600", l2.OverFailureLimit, l2.Total.Failed)
	}
	if pf := l2.Passes[0].Failures; len(pf) != 2 || pf[0].Class != "http:503" || pf[1].Class != "timeout" {
		t.Errorf("pass failures = %+v, want http:503 then timeout", pf)
	}

	u := doc.Unreported[0]
	if u.Total.FailedPercent == nil || *u.Total.FailedPercent != 0 || u.Passes == nil || len(u.Passes) != 0 {
		t.Errorf("level without requests: failed_percent %v, passes %v; want 0 and []", deref(u.Total.FailedPercent), u.Passes)
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}
