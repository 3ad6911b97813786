package main

import (
	"strings"
	"testing"
	"time"

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
		{[]string{"--request-rate-range", "0.001:10000000:0.001"}, loadSpec{Mode: "request_rate", Start: 0.001, End: 1e7, Step: 0.001, multiValue: true}},
		// perf_analyzer's deprecated -t (start), -c (end), -d (up to -c, default open-ended).
		{[]string{"-t", "4"}, loadSpec{Mode: "concurrency", Start: 4, End: 4, Step: 1}},
		{[]string{"-t", "2", "-c", "8"}, loadSpec{Mode: "concurrency", Start: 2, End: 8, Step: 1, multiValue: true}},
		{[]string{"-d", "-c", "8"}, loadSpec{Mode: "concurrency", Start: 1, End: 8, Step: 1, multiValue: true}},
		{[]string{"-d", "-t", "2", "-l", "5"}, loadSpec{Mode: "concurrency", Start: 2, End: 0, Step: 1, multiValue: true}},
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
	o, err := parseOpts(t, "-m", "m", "--shape", "IN:3,4", "-H", "X-A: b:c", "--percentile", "99.9", "-z")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Shapes["IN"]) != 2 || o.Headers["X-A"] != "b:c" || o.Percentile != 99.9 || o.InputData != "zero" {
		t.Errorf("shapes %v headers %v percentile %v input data %q", o.Shapes, o.Headers, o.Percentile, o.InputData)
	}
}

func TestOptionsOwnFlags(t *testing.T) {
	o, err := parseOpts(t, "-m", "m")
	if err != nil {
		t.Fatal(err)
	}
	if o.Timeout != 60*time.Second || o.MaxResponseSize != 64<<20 || o.DrainTimeout != 5*time.Second ||
		o.FailureLimit != 1 || o.ControlTimeout != 10*time.Second {
		t.Errorf("defaults: timeout %v, max response %d, drain %v, failure limit %v, control %v",
			o.Timeout, o.MaxResponseSize, o.DrainTimeout, o.FailureLimit, o.ControlTimeout)
	}
	if o.InputTensorFormat != "" || o.OutputTensorFormat != "" || o.SSLHTTPSCertType != "PEM" || o.SSLHTTPSKeyType != "PEM" {
		t.Errorf("defaults: tensor formats %q %q, TLS types %q %q", o.InputTensorFormat, o.OutputTensorFormat, o.SSLHTTPSCertType, o.SSLHTTPSKeyType)
	}
	o, err = parseOpts(t, "-m", "m", "--request-timeout", "0", "--max-response-size", "1GiB", "--drain-timeout", "0",
		"--failure-limit", "0.5", "--control-timeout", "250ms", "--input-tensor-format", "JSON", "--output-tensor-format", "binary",
		"--ssl-https-client-certificate-type", "der", "--ssl-https-private-key-type", "DER")
	if err != nil {
		t.Fatal(err)
	}
	if o.Timeout != 0 || o.MaxResponseSize != 1<<30 || o.DrainTimeout != 0 || o.FailureLimit != 0.5 || o.ControlTimeout != 250*time.Millisecond {
		t.Errorf("set: timeout %v, max response %d, drain %v, failure limit %v, control %v",
			o.Timeout, o.MaxResponseSize, o.DrainTimeout, o.FailureLimit, o.ControlTimeout)
	}
	if o.InputTensorFormat != "json" || o.OutputTensorFormat != "binary" || o.SSLHTTPSCertType != "DER" || o.SSLHTTPSKeyType != "DER" {
		t.Errorf("set: tensor formats %q %q, TLS types %q %q", o.InputTensorFormat, o.OutputTensorFormat, o.SSLHTTPSCertType, o.SSLHTTPSKeyType)
	}
	if _, err := parseOpts(t, "-m", "m", "-i", "grpc", "--input-tensor-format", "binary"); err != nil {
		t.Errorf("binary over gRPC (what gRPC does anyway): %v", err)
	}
}

// TestOptionsParseErrors checks values the flag parser itself refuses: one
// line that names the flag.
func TestOptionsParseErrors(t *testing.T) {
	tests := []struct {
		args []string
		flag string
	}{
		{[]string{"-p", "99999999999999999999"}, "--measurement-interval"},
		{[]string{"--request-count", "99999999999999999999"}, "--request-count"},
		{[]string{"--measurement-request-count", "1e3"}, "--measurement-request-count"},
		{[]string{"--warmup-request-count", "-99999999999999999999"}, "--warmup-request-count"},
		{[]string{"--request-timeout", "99999999h"}, "--request-timeout"},
		{[]string{"--max-response-size", "1.5MiB"}, "--max-response-size"},
		{[]string{"--max-response-size", "8589934592GiB"}, "--max-response-size"},
		{[]string{"--shared-memory"}, "--shared-memory"},
	}
	for _, tt := range tests {
		_, err := parseOpts(t, append([]string{"-m", "m"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.flag) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line naming %s", tt.args, err, tt.flag)
		}
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
		{[]string{"-m", "m", "--input-data", "data.json"}, "--input-data data.json: no such file or directory; give random, zero, a directory or perf_analyzer JSON files"},
		{[]string{"-m", "m", "--shape", "IN"}, "name:d1,d2"},
		{[]string{"-m", "m", "-H", "novalue"}, "Name:Value"},
		{[]string{"-m", "m", "--async", "--sync"}, "cannot be used together"},
		{[]string{"-m", "m", "--grpc-compression-algorithm", "gzip"}, "needs -i grpc"},
		{[]string{"-m", "m", "-i", "grpc", "--grpc-compression-algorithm", "zstd"}, "none or gzip"},
		{[]string{"-m", "m", "--ssl-grpc-use-ssl"}, "need -i grpc"},
		{[]string{"-m", "m", "--ssl-https-verify-host", "3"}, "0, 1 or 2"},
		{[]string{"-m", "m", "--ssl-https-client-certificate-type", "P12"}, "PEM or DER"},
		{[]string{"-m", "m", "--ssl-https-private-key-type", "pkcs8"}, "PEM or DER"},
		{[]string{"-m", "m", "--input-tensor-format", "xml"}, "binary or json"},
		{[]string{"-m", "m", "--output-tensor-format", "proto"}, "binary or json"},
		{[]string{"-m", "m", "-i", "grpc", "--input-tensor-format", "json"}, "need -i http"},
		{[]string{"-m", "m", "-i", "grpc", "--output-tensor-format", "JSON"}, "need -i http"},
		// Values that overflow a time.Duration or mean nothing.
		{[]string{"-m", "m", "-p", "9999999999999"}, "1 to 86400000 ms"},
		{[]string{"-m", "m", "-p", "99999999999999999"}, "1 to 86400000 ms"},
		{[]string{"-m", "m", "-p", "86400001"}, "1 to 86400000 ms"},
		{[]string{"-m", "m", "-p", "-5"}, "1 to 86400000 ms"},
		{[]string{"-m", "m", "-l", "1e308"}, "0 (no limit) to 3600000 ms"},
		{[]string{"-m", "m", "-l", "inf"}, "0 (no limit) to 3600000 ms"},
		{[]string{"-m", "m", "-l", "NaN"}, "0 (no limit) to 3600000 ms"},
		{[]string{"-m", "m", "--request-rate-range", "1e9"}, "0.001 to 10000000 requests/s"},
		{[]string{"-m", "m", "--request-rate-range", "1e-300"}, "the start 1e-300 must be"},
		{[]string{"-m", "m", "--request-rate-range", "1:2e7"}, "the end 2e+07 must be"},
		{[]string{"-m", "m", "--request-rate-range", "1:2:1e-9"}, "the step 1e-09 must be"},
		{[]string{"-m", "m", "--concurrency-range", "99999999999"}, "too large"},
		{[]string{"-m", "m", "--request-timeout", "-1s"}, "--request-timeout -1s: use 0 (no limit)"},
		{[]string{"-m", "m", "--request-timeout", "25h"}, "up to 24h"},
		{[]string{"-m", "m", "--drain-timeout", "-1ms"}, "--drain-timeout"},
		{[]string{"-m", "m", "--drain-timeout", "1000h"}, "up to 24h"},
		{[]string{"-m", "m", "--control-timeout", "0"}, "--control-timeout 0s: use more than 0"},
		{[]string{"-m", "m", "--failure-limit", "101"}, "from 0 to 100"},
		{[]string{"-m", "m", "--failure-limit", "-1"}, "from 0 to 100"},
		{[]string{"-m", "m", "--failure-limit", "NaN"}, "from 0 to 100"},
		{[]string{"-m", "m", "--max-response-size", "0"}, "more than 0 bytes"},
		// perf_analyzer's deprecated concurrency options.
		{[]string{"-m", "m", "-t", "2", "--concurrency-range", "4"}, "cannot be used together"},
		{[]string{"-m", "m", "-c", "8", "--request-rate-range", "4"}, "cannot be used together"},
		{[]string{"-m", "m", "-t", "0"}, "start must be more than 0"},
		{[]string{"-m", "m", "-t", "4", "-c", "2"}, "end must be 0"},
		{[]string{"-m", "m", "-d"}, "needs a latency threshold"},
		{[]string{"-m", "m", "-z", "--input-data", "random"}, "-z means --input-data zero"},
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
