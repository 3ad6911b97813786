package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func parseOpts(t *testing.T, args ...string) (*profileOptions, error) {
	t.Helper()
	o := defaultProfileOptions()
	fs := pflag.NewFlagSet("perfgo", pflag.ContinueOnError)
	o.bind(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, o.finish(fs)
}

func TestOptionsDefaults(t *testing.T) {
	o, err := parseOpts(t, "-m", "simple")
	if err != nil {
		t.Fatal(err)
	}
	if o.URL != "localhost:8000" || o.Protocol != "http" || o.BatchSize != 1 {
		t.Errorf("url/protocol/batch = %q %q %d", o.URL, o.Protocol, o.BatchSize)
	}
	if o.Load != (loadSpec{Mode: "concurrency", Start: 1, End: 1, Step: 1}) {
		t.Errorf("load = %+v, want concurrency 1", o.Load)
	}
	if o.MeasurementIntervalMs != 5000 || o.StabilityPercentage != 10 || o.MaxTrials != 10 || o.Percentile != -1 || o.MeasurementRequestCount != 50 {
		t.Errorf("measurement defaults = %+v", o)
	}
	g, err := parseOpts(t, "-m", "simple", "-i", "GRPC")
	if err != nil || g.URL != "localhost:8001" || g.Protocol != "grpc" {
		t.Errorf("grpc default url = %q (%v)", g.URL, err)
	}
}

func TestOptionsParsing(t *testing.T) {
	tests := []struct {
		args []string
		want loadSpec
	}{
		{[]string{"--concurrency-range", "1:8:2"}, loadSpec{Mode: "concurrency", Start: 1, End: 8, Step: 2, multiValue: true}},
		{[]string{"--concurrency-range", "4"}, loadSpec{Mode: "concurrency", Start: 4, End: 4, Step: 1}},
		{[]string{"--concurrency-range", "1:0", "-l", "5"}, loadSpec{Mode: "concurrency", Start: 1, End: 0, Step: 1, multiValue: true}},
		{[]string{"--request-rate-range", "100.5:200:50"}, loadSpec{Mode: "request_rate", Start: 100.5, End: 200, Step: 50, multiValue: true}},
		{[]string{"--request-intervals", "gaps.txt"}, loadSpec{Mode: "intervals", Start: 1, End: 1, Step: 1}},
	}
	for _, tt := range tests {
		o, err := parseOpts(t, append([]string{"-m", "m"}, tt.args...)...)
		if err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		if o.Load != tt.want {
			t.Errorf("%v: load = %+v, want %+v", tt.args, o.Load, tt.want)
		}
	}
	o, err := parseOpts(t, "-m", "m", "--shape", "IN:3,4", "-H", "X-A: b:c", "--percentile", "99.9")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Shapes["IN"]) != 2 || o.Headers["X-A"] != "b:c" || o.Percentile != 99.9 {
		t.Errorf("shapes %v headers %v percentile %v", o.Shapes, o.Headers, o.Percentile)
	}
}

func TestOptionsRejected(t *testing.T) {
	tests := []struct {
		args []string
		want string // part of the one-line message
	}{
		{[]string{}, "-m is required"},
		{[]string{"-m", "m", "-i", "tcp"}, "http or grpc"},
		{[]string{"-m", "m", "-b", "0"}, "batch size"},
		{[]string{"-m", "m", "--concurrency-range", "0"}, "start must be more than 0"},
		{[]string{"-m", "m", "--concurrency-range", "1:2:3:4"}, "start[:end[:step]]"},
		{[]string{"-m", "m", "--concurrency-range", "1.5"}, "whole number"},
		{[]string{"-m", "m", "--concurrency-range", "4:2"}, "end must be 0"},
		{[]string{"-m", "m", "--concurrency-range", "1:4:0"}, "step must be more than 0"},
		{[]string{"-m", "m", "--concurrency-range", "1:0"}, "needs a latency threshold"},
		{[]string{"-m", "m", "--request-rate-range", "nan"}, "must be a number"},
		{[]string{"-m", "m", "--concurrency-range", "1", "--request-rate-range", "5"}, "cannot be used together"},
		{[]string{"-m", "m", "--request-distribution", "posson"}, "constant or poisson"},
		{[]string{"-m", "m", "--measurement-mode", "windows"}, "time_windows or count_windows"},
		{[]string{"-m", "m", "-p", "0"}, "measurement interval"},
		{[]string{"-m", "m", "-s", "-1"}, "stability percentage"},
		{[]string{"-m", "m", "-r", "0"}, "max trials"},
		{[]string{"-m", "m", "--percentile", "100"}, "between 0 and 100"},
		{[]string{"-m", "m", "-l", "-2"}, "latency threshold"},
		{[]string{"-m", "m", "--binary-search", "--concurrency-range", "1:8"}, "needs -l"},
		{[]string{"-m", "m", "--binary-search", "--concurrency-range", "1:0", "-l", "3"}, "non-zero end"},
		{[]string{"-m", "m", "--request-count", "10", "--concurrency-range", "1:4"}, "single level"},
		{[]string{"-m", "m", "--request-count", "2", "--concurrency-range", "4"}, "less than the concurrency"},
		{[]string{"-m", "m", "--warmup-request-count", "5", "--concurrency-range", "1:4"}, "single level"},
		{[]string{"-m", "m", "--input-data", "data.json"}, "random or zero"},
		{[]string{"-m", "m", "--shape", "IN"}, "name:d1,d2"},
		{[]string{"-m", "m", "-H", "novalue"}, "Name:Value"},
		{[]string{"-m", "m", "--async", "--sync"}, "cannot be used together"},
		{[]string{"-m", "m", "--grpc-compression-algorithm", "gzip"}, "needs -i grpc"},
		{[]string{"-m", "m", "-i", "grpc", "--grpc-compression-algorithm", "zstd"}, "none or gzip"},
		{[]string{"-m", "m", "--ssl-grpc-use-ssl"}, "need -i grpc"},
		{[]string{"-m", "m", "--ssl-https-verify-host", "3"}, "0, 1 or 2"},
	}
	for _, tt := range tests {
		_, err := parseOpts(t, tt.args...)
		if err == nil {
			t.Errorf("%v: accepted, want an error containing %q", tt.args, tt.want)
			continue
		}
		if _, ok := err.(*usageErr); !ok {
			t.Errorf("%v: error %T is not a usage error", tt.args, err)
		}
		if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %q, want one line containing %q", tt.args, err, tt.want)
		}
	}
}
