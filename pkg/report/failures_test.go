package report

import (
	"bytes"
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
		{
			name: "without totals (older results): the classes and merged windows",
			edit: func(l *result.Level) {
				l.Total = result.Counts{}
				l.Client.Requests, l.Client.Failed = 396, 4
				l.Failures = []result.ClassCount{{Class: "http:503", Count: 4}}
			},
			want: []string{"    Failed requests: 4 of 400 (1.00%): http:503 4"},
		},
		{
			name: "never fewer failures than the classes count",
			edit: func(l *result.Level) {
				l.Total = result.Counts{Requests: 1000, Failed: 1}
				l.Failures = []result.ClassCount{{Class: "http:500", Count: 2}, {Class: "timeout", Count: 1}}
			},
			want: []string{"    Failed requests: 3 of 1003 (0.30%): http:500 2, timeout 1"},
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
		if got := formatShare(tc.pct, tc.limit); got != tc.want {
			t.Errorf("formatShare(%v, %v) = %q, want %q", tc.pct, tc.limit, got, tc.want)
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
