package slo

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		expr, norm string
		metric     Metric
		op         Op
		limit      float64
	}{
		{"p99<=20ms", "p99<=20ms", Metric{Kind: Latency, Percentile: 99}, LessEq, 20e6},
		{"p50<5ms", "p50<5ms", Metric{Kind: Latency, Percentile: 50}, Less, 5e6},
		{"p99.9<50ms", "p99.9<50ms", Metric{Kind: Latency, Percentile: 99.9}, Less, 50e6},
		{"p99.99 <= 1.5s", "p99.99<=1.5s", Metric{Kind: Latency, Percentile: 99.99}, LessEq, 1.5e9},
		{"avg<=3ms", "avg<=3ms", Metric{Kind: Latency}, LessEq, 3e6},
		{"AVG<=250us", "avg<=250us", Metric{Kind: Latency}, LessEq, 250e3},
		{"avg<=250µs", "avg<=250us", Metric{Kind: Latency}, LessEq, 250e3},
		{"avg<=250μs", "avg<=250us", Metric{Kind: Latency}, LessEq, 250e3}, // Greek mu
		{"p90>100ns", "p90>100ns", Metric{Kind: Latency, Percentile: 90}, Greater, 100},
		{"p95>=.5ms", "p95>=0.5ms", Metric{Kind: Latency, Percentile: 95}, GreaterEq, 0.5e6},
		{"throughput>=1000", "throughput>=1000", Metric{Kind: Throughput}, GreaterEq, 1000},
		{"throughput>=1000/s", "throughput>=1000", Metric{Kind: Throughput}, GreaterEq, 1000},
		{"throughput > 99.5", "throughput>99.5", Metric{Kind: Throughput}, Greater, 99.5},
		{"errors<=0.1%", "errors<=0.1%", Metric{Kind: Errors}, LessEq, 0.1},
		{"errors<1", "errors<1%", Metric{Kind: Errors}, Less, 1},
		{"errors<=0", "errors<=0%", Metric{Kind: Errors}, LessEq, 0},
		{"lag.p99<=1ms", "lag.p99<=1ms", Metric{Kind: Latency, Source: Lag, Percentile: 99}, LessEq, 1e6},
		{"service.p99<=4ms", "service.p99<=4ms", Metric{Kind: Latency, Source: Service, Percentile: 99}, LessEq, 4e6},
		{"service.avg<2ms", "service.avg<2ms", Metric{Kind: Latency, Source: Service}, Less, 2e6},
		{"first.p99<=200ms", "first.p99<=200ms", Metric{Kind: Latency, Source: First, Percentile: 99}, LessEq, 200e6},
		{"between.p99.9<=30ms", "between.p99.9<=30ms", Metric{Kind: Latency, Source: Between, Percentile: 99.9}, LessEq, 30e6},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			o, err := Parse(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if o.Metric != tc.metric || o.Op != tc.op || o.Limit != tc.limit {
				t.Errorf("got %+v %s %v, want %+v %s %v", o.Metric, o.Op, o.Limit, tc.metric, tc.op, tc.limit)
			}
			if got := o.String(); got != tc.norm {
				t.Errorf("String() = %q, want %q", got, tc.norm)
			}
			again, err := Parse(o.String())
			if err != nil || again != o {
				t.Errorf("the normalised form does not parse back: %+v, %v", again, err)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ expr, problem string }{
		{"", "no comparison"},
		{"p99", "no comparison"},
		{"p99=20ms", "no comparison"},
		{"<=20ms", "no metric"},
		{"p99<=20", "a latency needs a unit"},
		{"p99<=20min", `unknown latency unit "min"`},
		{"p99<=20 m s", ""}, // spaces are dropped: "20ms" is fine
		{"p99<==20ms", "not a number"},
		{"p99=<20ms", "the comparison is"},
		{"p99<=-1ms", "not a number"},
		{"p99<=1e3ms", "not a number"},
		{"p99<=ms", "not a number"},
		{"p99<=1.2.3ms", "not a number"},
		{"p100<=1ms", "between 0 and 100"},
		{"p0<=1ms", "between 0 and 100"},
		{"p<=1ms", "between 0 and 100"},
		{"p1e1<=1ms", "between 0 and 100"},
		{"pinf<=1ms", "between 0 and 100"},
		{"latency<=1ms", `unknown metric "latency"`},
		{"lag.median<=1ms", `unknown metric "lag.median"`},
		{"queue.p99<=1ms", `unknown metric "queue.p99"`},
		{"throughput>=fast", "not a number"},
		{"throughput>=1000ms", "not a number"},
		{"throughput>=inf", "not a number"},
		{"errors<=101%", "0 to 100"},
		{"errors<=1%%", "not a number"},
		{"p99<=9999999999s", "longer than a time.Duration"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := Parse(tc.expr)
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.problem) || !strings.HasSuffix(msg, Grammar) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %q and ending in the grammar", msg, tc.problem)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"p99<=20ms", "p99.9<50ms", "throughput>=1000/s", "errors<=0.1%", "lag.p99<=1ms", "first.avg<1s", "avg<=3µs", "p<", "<>", "p99<=.ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		o, err := Parse(expr)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(expr, "\n") {
				t.Errorf("error of %q spans lines: %v", expr, err)
			}
			return
		}
		again, err := Parse(o.String())
		if err != nil {
			t.Fatalf("%q parsed, but its normal form %q does not: %v", expr, o.String(), err)
		}
		if again.String() != o.String() || again.Metric != o.Metric || again.Op != o.Op {
			t.Errorf("%q: normal form %q parses to %+v, want %+v", expr, o.String(), again, o)
		}
		if o.Limit < 0 || o.Limit != o.Limit {
			t.Errorf("%q: limit %v", expr, o.Limit)
		}
	})
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 ns"},
		{999, "999 ns"},
		{1500, "1.50 us"},
		{812_300, "812 us"},
		{8_123_000, "8.12 ms"},
		{12_340_000, "12.3 ms"},
		{1_200_000_000, "1.20 s"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%d) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
