package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParse(t *testing.T) {
	tests := []struct {
		args    []string
		want    options
		wantErr string
	}{
		{[]string{"-u", "h:1"}, options{protocol: "grpc", url: "h:1", model: "simple", concurrency: 1, duration: 10 * time.Second}, ""},
		{[]string{"-i", "http", "-u", "h:1", "-c", "64", "-d", "2s", "-connections", "4", "-m", "identity", "-cpuprofile", "p"},
			options{protocol: "http", url: "h:1", model: "identity", concurrency: 64, connections: 4, duration: 2 * time.Second, cpuProfile: "p"}, ""},
		{nil, options{}, "-u host:port"},
		{[]string{"-u", "h:1", "-c", "0"}, options{}, "-c 0"},
		{[]string{"-u", "h:1", "-d", "0s"}, options{}, "-d 0s"},
		{[]string{"-u", "h:1", "-m", "identity", "-shape", "INPUT0:16"}, options{protocol: "grpc", url: "h:1", model: "identity", shape: "INPUT0:16", concurrency: 1, duration: 10 * time.Second}, ""},
		{[]string{"-u", "h:1", "-shape", "INPUT0"}, options{}, "name:d1,d2"},
		{[]string{"-u", "h:1", "-shape", "INPUT0:0"}, options{}, "greater than 0"},
		{[]string{"-u", "h:1", "extra"}, options{}, "unexpected arguments"},
		{[]string{"-nope"}, options{}, "usage: bareloop"},
	}
	for _, tt := range tests {
		got, err := parse(tt.args)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parse(%q) error = %v, want one mentioning %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parse(%q) = %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
}

// The loop counts what the server counts, over both protocols.
func TestRun(t *testing.T) {
	s := servertest.Start(t)
	for _, tt := range []struct{ protocol, url string }{{"grpc", s.GRPCAddr}, {"http", s.HTTPAddr}} {
		t.Run(tt.protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			before := served(ctx, t, s)
			var out bytes.Buffer
			if err := run(ctx, []string{"-i", tt.protocol, "-u", tt.url, "-c", "3", "-d", "100ms"}, &out); err != nil {
				t.Fatal(err)
			}
			var done, failed uint64
			var secs, tput float64
			if _, err := fmt.Sscanf(out.String(), "requests=%d failed=%d seconds=%f throughput=%f", &done, &failed, &secs, &tput); err != nil {
				t.Fatalf("output %q: %v", out.String(), err)
			}
			// The server also saw the three first (connecting) requests.
			if got := served(ctx, t, s) - before; done == 0 || failed != 0 || got != done+3 || secs <= 0 || tput <= 0 {
				t.Errorf("bareloop said %q; the server counted %d requests (want requests+3)", out.String(), got)
			}
		})
	}
}

// A model with variable dims runs with -shape, as perfgo's --shape.
func TestRunShape(t *testing.T) {
	s := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{"-u", s.GRPCAddr, "-m", "identity", "-shape", "INPUT0:16", "-c", "2", "-d", "50ms"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "failed=0 ") {
		t.Errorf("bareloop said %q, want failed=0", out.String())
	}
}

func TestRunErrors(t *testing.T) {
	s := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-u", s.GRPCAddr, "-m", "nope"}, `model "nope"`},
		{[]string{"-i", "ftp", "-u", s.GRPCAddr}, "protocol"},
		{[]string{"-u", s.GRPCAddr, "-m", "identity"}, "--shape"},
	} {
		if err := run(ctx, tt.args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}

func served(ctx context.Context, t *testing.T, s *servertest.Server) uint64 {
	t.Helper()
	cl, err := client.New(ctx, client.Options{Protocol: client.GRPC, URL: s.GRPCAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	st, err := cl.ModelStatistics(ctx, "simple", "")
	if err != nil {
		t.Fatal(err)
	}
	return st.GetModelStats()[0].GetInferenceStats().GetSuccess().GetCount()
}
