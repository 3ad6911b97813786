package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/export"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// checkExport reads an export with perfgo's checker.
func checkExport(t *testing.T, path string) export.Summary {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := export.Check(f)
	if err != nil {
		t.Fatalf("export %s is not sound: %v", path, err)
	}
	return sum
}

// A --request-count run's export has exactly the requests the server
// counted (warm-up included), over both protocols, single requests and
// streams; `perfgo export check --json` agrees with the run's report.
func TestExportCountsWhatTheServerCounted(t *testing.T) {
	srv := servertest.Start(t)
	for _, tc := range []struct {
		name, proto, model string
		args               []string
		env                [2]string // a transport: variable and value
		responses          uint64    // per request
		output             string    // in every response's outputs
	}{
		{"grpc", "grpc", "simple", nil, [2]string{}, 1, `{"OUTPUT0":[`},
		{"grpc-go", "grpc", "simple", nil, [2]string{"PERFGO_GRPC_TRANSPORT", "grpc-go"}, 1, `{"OUTPUT0":[`},
		{"http", "http", "simple", nil, [2]string{}, 1, `{"OUTPUT0":[`},
		{"net/http", "http", "simple", nil, [2]string{"PERFGO_HTTP_TRANSPORT", "nethttp"}, 1, `{"OUTPUT0":[`},
		{"grpc stream", "grpc", "repeat", []string{"--shape", "IN:4"}, [2]string{}, 4, `{"OUT":`},
		{"grpc-go stream", "grpc", "repeat", []string{"--shape", "IN:4"}, [2]string{"PERFGO_GRPC_TRANSPORT", "grpc-go"}, 4, `{"OUT":`},
		{"http generate", "http", "generate", []string{"--request-parameter", "max_tokens:3:int"}, [2]string{}, 3, `{"text_output":"tok`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env[0] != "" {
				t.Setenv(tc.env[0], tc.env[1])
			}
			url := addrFor(srv, tc.proto)
			dir := t.TempDir()
			exportPath, jsonPath := filepath.Join(dir, "export.json"), filepath.Join(dir, "run.json")
			before := successCount(t, srv, tc.model)
			args := append([]string{"-m", tc.model, "-i", tc.proto, "-u", url, "--concurrency-range", "3", "--request-count", "40",
				"--warmup-request-count", "4", "--profile-export-file", exportPath, "--json", jsonPath}, tc.args...)
			code, stdout, stderr := perfgo(t, context.Background(), args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			served := successCount(t, srv, tc.model) - before
			sum := checkExport(t, exportPath)
			if got := sum.Requests(); got != served || served != 44 {
				t.Errorf("export has %d requests, the server counted %d; want 44 both", got, served)
			}
			if len(sum.Experiments) != 1 || sum.Experiments[0].Mode != "concurrency" || sum.Experiments[0].Value != 3 || sum.Experiments[0].Windows != 1 {
				t.Errorf("experiments %+v; want concurrency 3 with one window", sum.Experiments)
			}
			if e := sum.Experiments[0]; e.Responses != tc.responses*e.Requests {
				t.Errorf("%d responses for %d requests; want %d each", e.Responses, e.Requests, tc.responses)
			}
			b, err := os.ReadFile(exportPath)
			if err != nil {
				t.Fatal(err)
			}
			if n := uint64(strings.Count(string(b), tc.output)); n != 44*tc.responses {
				t.Errorf("%d response outputs with %s, want one per response (%d)", n, tc.output, 44*tc.responses)
			}
			if !strings.HasPrefix(sum.Version, "perfgo ") || sum.ServiceKind != "triton" {
				t.Errorf("version %q, service_kind %q", sum.Version, sum.ServiceKind)
			}
			code, stdout, stderr = perfgo(t, context.Background(), "export", "check", exportPath, "--json", jsonPath)
			if code != 0 || !strings.Contains(stdout, "experiment 1: concurrency 3: 44 requests") {
				t.Errorf("export check: exit %d\n%s\n%s", code, stdout, stderr)
			}
		})
	}
}

// The outputs of a stream's responses are exported one object per response.
func TestExportStreamOutputs(t *testing.T) {
	srv := servertest.Start(t)
	exportPath := filepath.Join(t.TempDir(), "export.json")
	code, stdout, stderr := perfgo(t, context.Background(), "-m", "repeat", "-i", "grpc", "-u", srv.GRPCAddr, "--shape", "IN:3",
		"--request-count", "5", "--profile-export-file", exportPath)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(exportPath)
	if err != nil {
		t.Fatal(err)
	}
	// repeat answers IN's values one per response, with their index.
	for _, want := range []string{`"IDX":0}`, `"IDX":1}`, `"IDX":2}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("export lacks %s:\n%.600s", want, b)
		}
	}
}

// An existing export is never overwritten, and refused before anything is sent.
func TestExportRefusesExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.json")
	if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := perfgo(t, t.Context(), "-m", "simple", "-u", deadAddr(t), "--profile-export-file", path)
	if code != exitError || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--profile-export-file "+path+": the file exists") {
		t.Errorf("exit %d, stderr %q; want 99 and one line naming the file", code, stderr)
	}
	if strings.Contains(stderr, "reach") {
		t.Errorf("stderr %q: the server was contacted before the export path was checked", stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Errorf("the existing file was changed: %q", b)
	}
}

// perfgo export check refuses a truncated export and one with a response
// before its request, in one line, exit 99.
func TestExportCheckRefuses(t *testing.T) {
	srv := servertest.Start(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "export.json")
	code, stdout, stderr := perfgo(t, context.Background(), "-m", "simple", "-i", "grpc", "-u", srv.GRPCAddr, "--request-count", "20", "--profile-export-file", good)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.json")
	if err := os.WriteFile(truncated, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	// The first request's response, moved before its send.
	i := strings.Index(string(b), `"response_timestamps":[`) + len(`"response_timestamps":[`)
	early := filepath.Join(dir, "early.json")
	if err := os.WriteFile(early, append(append(append([]byte{}, b[:i]...), '1'), b[i+strings.IndexAny(string(b[i:]), ",]"):]...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{truncated, "truncated"},
		{early, "request 1: its response at 1 precedes the request's timestamp"},
		{filepath.Join(dir, "missing.json"), "no such file"},
	} {
		code, _, stderr := perfgo(t, t.Context(), "export", "check", tc.path)
		if code != exitError || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 99 and one line saying %q", filepath.Base(tc.path), code, stderr, tc.want)
		}
	}
}

// Ctrl-C mid-run leaves a valid export with what was recorded.
func TestExportInterrupted(t *testing.T) {
	srv := servertest.Start(t)
	exportPath, jsonPath := filepath.Join(t.TempDir(), "export.json"), filepath.Join(t.TempDir(), "run.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int)
	before := successCount(t, srv, "simple")
	go func() {
		done <- run(ctx, nil, append([]string{"-m", "simple", "-i", "http", "-u", srv.HTTPAddr, "--concurrency-range", "1:50",
			"--profile-export-file", exportPath, "--json", jsonPath}, anyWindows...), &stdout, &stderr)
	}()
	waitForSecondLevel(t, &stdout, &stderr, done, cancel)
	cancel()
	if code := <-done; code != exitInterrupted {
		t.Errorf("exit %d, want %d\n%s", code, exitInterrupted, stderr.String())
	}
	sum := checkExport(t, exportPath)
	if len(sum.Experiments) != 2 || sum.Experiments[0].Requests == 0 || sum.Experiments[0].Windows < 3 {
		t.Errorf("experiments %+v; want level 1 whole and level 2 begun", sum.Experiments)
	}
	if served := successCount(t, srv, "simple") - before; sum.Requests() != served {
		t.Errorf("export has %d requests, the server counted %d", sum.Requests(), served)
	}
	if code, stdout, stderr := perfgo(t, context.Background(), "export", "check", exportPath, "--json", jsonPath); code != 0 {
		t.Errorf("export check --json: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// A run that fails before its first level still leaves a valid, empty export.
func TestExportDeadServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.json")
	code, _, _ := perfgo(t, t.Context(), "-m", "simple", "-u", deadAddr(t), "--profile-export-file", path)
	if code != exitError {
		t.Fatalf("exit %d against a dead server; want %d", code, exitError)
	}
	if sum := checkExport(t, path); len(sum.Experiments) != 0 {
		t.Errorf("experiments %+v; want none", sum.Experiments)
	}
}

// FP16 tensors have no export form: left out, with one warning.
func TestExportSkipsFP16WithOneWarning(t *testing.T) {
	srv := servertest.Start(t)
	path := filepath.Join(t.TempDir(), "export.json")
	code, stdout, stderr := perfgo(t, context.Background(), "-m", "identity_fp16", "-i", "http", "-u", srv.HTTPAddr, "--shape", "INPUT0:3",
		"--request-count", "5", "--profile-export-file", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := strings.Count(stderr, "the profile export leaves out the FP16 tensors"); n != 1 {
		t.Errorf("%d warnings about FP16, want 1:\n%s", n, stderr)
	}
	if sum := checkExport(t, path); sum.Requests() != 5 {
		t.Errorf("%d requests exported, want 5", sum.Requests())
	}
}

// A stateful model's requests carry their sequence_id; the requests that
// close sequences at the end are exported too (the server counts them).
func TestExportSequences(t *testing.T) {
	srv := servertest.Start(t)
	path := filepath.Join(t.TempDir(), "export.json")
	before := successCount(t, srv, "sequence")
	code, stdout, stderr := perfgo(t, context.Background(), "-m", "sequence", "-i", "grpc", "-u", srv.GRPCAddr, "--concurrency-range", "2",
		"--request-count", "30", "--profile-export-file", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	sum := checkExport(t, path)
	if served := successCount(t, srv, "sequence") - before; sum.Requests() != served || served < 30 {
		t.Errorf("export has %d requests, the server counted %d (at least 30)", sum.Requests(), served)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := uint64(strings.Count(string(b), `"sequence_id":`)); n != sum.Requests() {
		t.Errorf("%d of %d requests carry a sequence_id", n, sum.Requests())
	}
}
