package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/server"
)

func TestServeFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(server.Options) bool
		wantErr string
	}{
		{"generate defaults", nil, func(o server.Options) bool {
			return o.Generate == server.GenerateOptions{FirstResponse: 20 * time.Millisecond, Gap: 5 * time.Millisecond, Distribution: "fixed", Tokens: 16} && o.SequenceHold == 0
		}, ""},
		{"generate flags", []string{"--generate-first-ms", "50", "--generate-gap-ms", "0.5", "--generate-distribution", "lognormal", "--generate-tokens", "100"}, func(o server.Options) bool {
			return o.Generate == server.GenerateOptions{FirstResponse: 50 * time.Millisecond, Gap: 500 * time.Microsecond, Distribution: "lognormal", Tokens: 100}
		}, ""},
		{"sequence hold", []string{"--sequence-hold-ms", "2"}, func(o server.Options) bool { return o.SequenceHold == 2*time.Millisecond }, ""},
		{"zero first", []string{"--generate-first-ms", "0"}, nil, "--generate-first-ms is 0"},
		{"negative gap", []string{"--generate-gap-ms", "-1"}, nil, "--generate-gap-ms is -1"},
		{"NaN gap", []string{"--generate-gap-ms", "NaN"}, nil, "--generate-gap-ms is NaN"},
		{"bad distribution", []string{"--generate-distribution", "pareto"}, nil, `--generate-distribution is "pareto"`},
		{"zero tokens", []string{"--generate-tokens", "0"}, nil, "--generate-tokens is 0; use 1 to 4096"},
		{"too many tokens", []string{"--generate-tokens", "5000"}, nil, "--generate-tokens is 5000"},
		{"negative hold", []string{"--sequence-hold-ms", "-2"}, nil, "--sequence-hold-ms is -2"},
		{"gpus", []string{"--gpu", "GPU-0:0.2/0.6:120:1/3:4", "--gpu", "GPU-1:1:0:0:0"}, func(o server.Options) bool {
			return len(o.GPUs) == 2 && o.GPUs[0].UUID == "GPU-0" && len(o.GPUs[0].Utilization) == 2 && o.GPUs[1].MemoryTotalBytes == 0
		}, ""},
		{"no gpu", nil, func(o server.Options) bool { return o.GPUs == nil }, ""},
		{"bad gpu", []string{"--gpu", "GPU-0:2:120:1:4"}, nil, `--gpu "GPU-0:2:120:1:4": utilization "2" is not a number from 0 to 1; want UUID:UTIL:POWER_W`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got server.Options
			cmd := newServeCmdWith(func(_ context.Context, opts server.Options, _ io.Writer) error { got = opts; return nil })
			cmd.SetArgs(append([]string{}, tt.args...)) // never nil: cobra would read os.Args
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(got) {
				t.Fatalf("options %+v, %v", got, err)
			}
		})
	}
}
