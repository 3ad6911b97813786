package main

import (
	"math"
	"strings"
	"testing"
)

// paOptions are every option of perf_analyzer's command line, from the
// tables of §1 of the perf_analyzer reference, each with a value where it
// takes one, and what perfgo does with it: "" accepted, or part of the one
// line that refuses it. -? is left out: perf_analyzer itself does not
// register it.
var paOptions = []struct {
	args []string
	want string
}{
	// §1.1 General / target selection.
	{[]string{"-x", "1"}, ""},
	{[]string{"--service-kind", "triton"}, ""},
	{[]string{"--service-kind", "triton_c_api"}, "not implemented yet"},
	{[]string{"--service-kind", "tfserving"}, "not implemented yet"},
	{[]string{"--service-kind", "torchserve"}, "not implemented yet"},
	{[]string{"--service-kind", "openai"}, "not implemented yet"},
	{[]string{"--service-kind", "dynamic_grpc"}, "not implemented yet"},
	{[]string{"--service-kind", "triton2"}, "perf_analyzer's values are"},
	{[]string{"--endpoint", "v1/chat/completions"}, ""},
	{[]string{"--bls-composing-models", "a:3,b"}, ""},
	{[]string{"--bls-composing-models", "a:x"}, "--bls-composing-models"},
	{[]string{"--bls-composing-models", "a,,b"}, "--bls-composing-models"},
	{[]string{"--model-signature-name", "serving_default"}, ""},
	{[]string{"--triton-server-directory", "/opt/tritonserver"}, ""},
	{[]string{"--model-repository", "/models"}, ""},
	{[]string{"-v"}, ""},
	{[]string{"-v", "-v"}, ""},
	{[]string{"--version"}, ""},
	{[]string{"-h"}, "help"},
	{[]string{"--help"}, "help"},
	{[]string{"--enable-mpi"}, "not implemented yet"},
	// §1.2 Load modes.
	{[]string{"--concurrency-range", "1:4:1"}, ""},
	{[]string{"--request-rate-range", "10:20:5"}, ""},
	{[]string{"--request-distribution", "poisson"}, ""},
	{[]string{"--request-intervals", "gaps.txt"}, ""},
	{[]string{"--periodic-concurrency-range", "1:4:1"}, "not implemented yet"},
	{[]string{"--request-period", "10"}, "not implemented yet"},
	{[]string{"--fixed-schedule"}, "not implemented yet"},
	{[]string{"--session-concurrency", "2"}, "not implemented yet"},
	{[]string{"--max-threads", "4"}, ""},
	{[]string{"-t", "2"}, ""},
	{[]string{"-c", "4"}, ""},
	{[]string{"-d", "-c", "4"}, ""},
	// §1.3 Measurement, stability and search.
	{[]string{"--measurement-mode", "count_windows"}, ""},
	{[]string{"-p", "100"}, ""},
	{[]string{"--measurement-interval", "100"}, ""},
	{[]string{"--measurement-request-count", "10"}, ""},
	{[]string{"-s", "5"}, ""},
	{[]string{"--stability-percentage", "5"}, ""},
	{[]string{"-r", "3"}, ""},
	{[]string{"--max-trials", "3"}, ""},
	{[]string{"--percentile", "95"}, ""},
	{[]string{"-l", "10"}, ""},
	{[]string{"--latency-threshold", "10"}, ""},
	{[]string{"--binary-search", "--concurrency-range", "1:8", "-l", "5"}, ""},
	{[]string{"--request-count", "10"}, ""},
	{[]string{"--warmup-request-count", "5"}, ""},
	// §1.4 Input data.
	{[]string{"--input-data", "zero"}, ""},
	{[]string{"-z"}, ""},
	{[]string{"--data-directory", "no-such-dir"}, "--input-data no-such-dir: no such file or directory"},
	{[]string{"-b", "2"}, ""},
	{[]string{"--shape", "INPUT0:4"}, ""},
	{[]string{"--string-length", "16"}, ""},
	{[]string{"--string-data", "hello"}, ""},
	{[]string{"--shared-memory", "none"}, ""},
	{[]string{"--shared-memory", "system"}, ""},
	{[]string{"--shared-memory", "gpu"}, "use none or system"},
	{[]string{"--shared-memory", "system", "--output-shared-memory-size", "0"}, "at least 1 byte"},
	{[]string{"--shared-memory", "cuda"}, "no GPU support"},
	{[]string{"--output-shared-memory-size", "102400"}, ""},
	{[]string{"--input-tensor-format", "json"}, ""},
	{[]string{"--output-tensor-format", "binary"}, ""},
	// §1.5 Sequence (stateful) models.
	{[]string{"--sequence-length", "20"}, ""},
	{[]string{"--sequence-length", "0"}, "use 1 or more"},
	{[]string{"--sequence-length-variation", "20"}, ""},
	{[]string{"--sequence-length-variation", "-1"}, "0 or more"},
	{[]string{"--sequence-id-range", "1:100"}, ""},
	{[]string{"--sequence-id-range", "0"}, ""},
	{[]string{"--sequence-id-range", "5:5"}, "end above start"},
	{[]string{"--sequence-id-range", "a:b"}, "want start[:end]"},
	{[]string{"--num-of-sequences", "4"}, ""},
	{[]string{"--num-of-sequences", "0"}, "use 1 or more"},
	{[]string{"--serial-sequences"}, ""},
	// §1.6 Protocol, transport, TLS.
	{[]string{"-i", "grpc"}, ""},
	{[]string{"-u", "localhost:8000"}, ""},
	{[]string{"-a"}, ""},
	{[]string{"--async"}, ""},
	{[]string{"--sync"}, ""},
	{[]string{"--streaming"}, ""},
	{[]string{"--streaming", "--sync"}, "cannot be used together"},
	{[]string{"--stream-latency", "final"}, ""},
	{[]string{"--stream-latency", "last"}, "use first"},
	{[]string{"-H", "X-A:b"}, ""},
	{[]string{"-i", "grpc", "--grpc-compression-algorithm", "gzip"}, ""},
	{[]string{"--grpc-method", "pkg.Service/Method"}, ""},
	{[]string{"--proto", "service.proto"}, "not implemented yet"},
	{[]string{"--request-parameter", "max_tokens:256:int"}, ""},
	{[]string{"-i", "grpc", "--ssl-grpc-use-ssl"}, ""},
	{[]string{"-i", "grpc", "--ssl-grpc-root-certifications-file", "ca.pem"}, ""},
	{[]string{"-i", "grpc", "--ssl-grpc-private-key-file", "key.pem"}, ""},
	{[]string{"-i", "grpc", "--ssl-grpc-certificate-chain-file", "cert.pem"}, ""},
	{[]string{"--ssl-https-verify-peer", "0"}, ""},
	{[]string{"--ssl-https-verify-host", "0"}, ""},
	{[]string{"--ssl-https-ca-certificates-file", "ca.pem"}, ""},
	{[]string{"--ssl-https-client-certificate-file", "cert.der"}, ""},
	{[]string{"--ssl-https-client-certificate-type", "DER"}, ""},
	{[]string{"--ssl-https-private-key-file", "key.der"}, ""},
	{[]string{"--ssl-https-private-key-type", "DER"}, ""},
	// §1.7 Server-side metrics, tracing.
	{[]string{"--collect-metrics"}, ""},
	{[]string{"--collect-metrics", "--metrics-url", "localhost:8002/metrics"}, ""},
	{[]string{"--collect-metrics", "--metrics-interval", "1000"}, ""},
	{[]string{"--metrics-url", "localhost:8002/metrics"}, "--metrics-url needs --collect-metrics"},
	{[]string{"--metrics-interval", "1000"}, "--metrics-interval needs --collect-metrics"},
	{[]string{"--trace-level", "TIMESTAMPS"}, "not implemented yet"},
	{[]string{"--trace-rate", "1000"}, "not implemented yet"},
	{[]string{"--trace-count", "-1"}, "not implemented yet"},
	{[]string{"--log-frequency", "0"}, "not implemented yet"},
	// §1.8 Reports.
	{[]string{"-f", "out.csv"}, ""},
	{[]string{"--verbose-csv"}, ""},
	{[]string{"--profile-export-file", "export.json"}, ""},
}

// TestEveryPerfAnalyzerOptionIsKnown parses each option on perfgo's own
// command (so that cobra's -h counts) and then checks what perfgo does
// with it: works, accepted with perf_analyzer's meaning, or refused in one
// line, never "unknown flag".
func TestEveryPerfAnalyzerOptionIsKnown(t *testing.T) {
	for _, tt := range paOptions {
		args := append([]string{"-m", "x"}, tt.args...)
		root := newRootCmd(nil)
		root.InitDefaultHelpFlag()
		if err := root.ParseFlags(args); err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		if tt.want == "help" {
			continue // cobra prints the help
		}
		_, err := parseOpts(t, args...)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v, want it accepted", tt.args, err)
		case tt.want == "":
		case err == nil:
			t.Errorf("%v: accepted, want a refusal containing %q", tt.args, tt.want)
		case !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n"):
			t.Errorf("%v: %q, want one line containing %q", tt.args, err, tt.want)
		default:
			if _, ok := err.(*usageErr); !ok {
				t.Errorf("%v: error %T is not a usage error (exit 99)", tt.args, err)
			}
		}
	}
}

// TestCompatFlagsTakeTheirValue checks that a flag that takes a value does
// not leave it behind as an argument, nor swallow the next flag as a switch
// would, and that the table and the test list agree.
func TestCompatFlagsTakeTheirValue(t *testing.T) {
	tested := map[string]bool{}
	for _, tt := range paOptions {
		tested[strings.TrimLeft(tt.args[0], "-")] = true
	}
	for _, f := range compatFlags {
		if !tested[f.name] {
			t.Errorf("--%s is in the compat table but not in the option list", f.name)
		}
		if !strings.Contains(compatHelp(), "--"+f.name) {
			t.Errorf("compatHelp does not mention --%s", f.name)
		}
		args := []string{"-m", "x", "--" + f.name}
		if f.arg != "" {
			args = append(args, "v")
		}
		args = append(args, "-b", "3")
		root := newRootCmd(nil)
		if err := root.ParseFlags(args); err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		if n := root.Flags().NArg(); n != 0 {
			t.Errorf("%v: %d arguments left over", args, n)
		}
		if b, _ := root.Flags().GetInt("batch-size"); b != 3 {
			t.Errorf("%v: -b after it read as %d", args, b)
		}
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // -1: refused
	}{
		{"100", 100},
		{"0", 0},
		{"64MiB", 64 << 20},
		{"64mib", 64 << 20},
		{"2 GiB", 2 << 30},
		{"1KiB", 1024},
		{"1kb", 1000},
		{"3MB", 3_000_000},
		{"5GB", 5_000_000_000},
		{"512B", 512},
		{"9223372036854775807", math.MaxInt64},
		{"8589934591GiB", 8589934591 << 30},
		{"8589934592GiB", -1},
		{"99999999999999999999", -1},
		{"1.5MiB", -1},
		{"-1", -1},
		{"", -1},
		{"MiB", -1},
		{"64 M", -1},
		{"64TiB", -1},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if tt.want < 0 {
			if err == nil {
				t.Errorf("parseByteSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for v, want := range map[int64]string{64 << 20: "64MiB", 1 << 30: "1GiB", 1536: "1536", 1000: "1000", 0: "0"} {
		s := byteSize(v)
		if got := s.String(); got != want {
			t.Errorf("byteSize(%d).String() = %q, want %q", v, got, want)
		}
	}
}

func FuzzByteSize(f *testing.F) {
	for _, s := range []string{"64MiB", "1kb", "9223372036854775807", "8589934592GiB", " 3 gb "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseByteSize(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("parseByteSize(%q) = %d, negative", s, v)
		}
		// What String prints parses back to the same size.
		b := byteSize(v)
		if back, err := parseByteSize(b.String()); err != nil || back != v {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, v, b.String(), back, err)
		}
	})
}
