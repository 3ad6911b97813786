package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/server/servertest"
	"github.com/perfgo/perfgo/pkg/shm"
)

// shmURL is srv's address for proto.
func shmURL(srv *servertest.Server, proto string) string {
	if proto == "http" {
		return srv.HTTPAddr
	}
	return srv.GRPCAddr
}

// shmClient is a client of srv over proto with the shared-memory calls.
func shmClient(t *testing.T, srv *servertest.Server, proto string) (client.Client, client.SharedMemoryClient) {
	t.Helper()
	cl, err := client.New(t.Context(), client.Options{Protocol: client.Protocol(proto), URL: shmURL(srv, proto), ControlTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl, cl.(client.SharedMemoryClient)
}

// someoneElses registers a region of another client on srv, to be left
// alone by perfgo.
func someoneElses(t *testing.T, sc client.SharedMemoryClient) {
	t.Helper()
	mem, err := shm.Create(fmt.Sprintf("/perfgo_other_%d_%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_")), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Unlink(); _ = mem.Close() })
	if err := sc.RegisterSystemSharedMemory(t.Context(), "someone_else", mem.Key(), 0, 64); err != nil {
		t.Fatal(err)
	}
}

// checkReleased fails t unless the server lists someone_else (when
// registered) and none of perfgo's regions, and /dev/shm holds none of
// perfgo's objects.
func checkReleased(t *testing.T, sc client.SharedMemoryClient, other bool) {
	t.Helper()
	st, err := sc.SystemSharedMemoryStatus(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	mine := fmt.Sprintf("perfgo_%d_", os.Getpid())
	var names []string
	for _, r := range st {
		names = append(names, r.Name)
		if strings.HasPrefix(r.Name, mine) {
			t.Errorf("perfgo's region %s is still registered after the run", r.Name)
		}
	}
	if other && (len(names) == 0 || names[0] != "someone_else") {
		t.Errorf("regions after the run %q; someone_else's region was unregistered", names)
	}
	left, err := filepath.Glob(filepath.Join(shm.Dir, mine+"*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("shared memory objects left behind: %q", left)
	}
}

// forBothProtocols runs f over HTTP and over gRPC, each against a server
// of its own on which someone else has registered a region.
func forBothProtocols(t *testing.T, f func(t *testing.T, proto, url string, cl client.Client, sc client.SharedMemoryClient)) {
	for _, proto := range []string{"http", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			srv := servertest.Start(t)
			cl, sc := shmClient(t, srv, proto)
			someoneElses(t, sc)
			f(t, proto, shmURL(srv, proto), cl, sc)
		})
	}
}

// A run in shared memory succeeds over both protocols, the server counts
// its requests, and afterwards only someone else's region is registered.
func TestSharedMemorySystemRun(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, proto, url string, cl client.Client, sc client.SharedMemoryClient) {
		code, stdout, stderr := perfgo(t, t.Context(), "-m", "simple", "-i", proto, "-u", url, "--shared-memory", "system", "--request-count", "40", "-b", "2")
		if code != 0 || strings.Contains(stdout, "Failed requests") || stderr != "" {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		stats, err := cl.ModelStatistics(t.Context(), "simple", "")
		if err != nil {
			t.Fatal(err)
		}
		if n := stats.GetModelStats()[0].GetInferenceStats().GetSuccess().GetCount(); n != 40 {
			t.Errorf("the server counts %d successful requests, want 40", n)
		}
		checkReleased(t, sc, true)
	})
}

// The server computes from perfgo's input regions and writes the outputs
// into perfgo's output regions: OUTPUT0 = INPUT0 + INPUT1 for simple.
func TestSharedMemoryServerUsesRegions(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, proto, url string, cl client.Client, sc client.SharedMemoryClient) {
		o := &profileOptions{Model: "simple", Protocol: proto, URL: url, BatchSize: 1,
			OutputSharedMemorySize: defaultOutputSharedMemorySize, ControlTimeout: 10 * time.Second, StringLength: 16, InputData: "random"}
		tg, err := discover(t.Context(), cl, o, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		in0, in1 := tg.tensors[0].Data, tg.tensors[1].Data
		regions, err := o.placeInSharedMemory(t.Context(), cl, tg)
		defer checkReleased(t, sc, false)
		defer regions.release(t.Context(), o.ControlTimeout, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if len(regions.regions) != 4 || tg.tensors[0].Data != nil {
			t.Fatalf("%d regions, INPUT0 has %d bytes; want 2 inputs and 2 outputs in regions", len(regions.regions), len(tg.tensors[0].Data))
		}
		p, err := cl.Prepare(&client.InferRequest{Model: "simple", Inputs: tg.tensors, Outputs: tg.outputs, OutputParams: tg.outputParams})
		if err != nil {
			t.Fatal(err)
		}
		call, err := p.NewCall()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call.Do(t.Context()); err != nil {
			t.Fatal(err)
		}
		var out0 []byte
		for _, r := range regions.regions {
			if strings.HasSuffix(r.name, "_OUTPUT0") {
				out0 = r.mem.Bytes()
			}
		}
		for i := range 16 {
			a, b := int32(binary.LittleEndian.Uint32(in0[4*i:])), int32(binary.LittleEndian.Uint32(in1[4*i:]))
			if got := int32(binary.LittleEndian.Uint32(out0[4*i:])); got != a+b {
				t.Fatalf("OUTPUT0[%d] in perfgo's region is %d, want %d + %d", i, got, a, b)
			}
		}
	})
}

// Ctrl-C (the first, then the second) mid-run: the regions are released.
func TestSharedMemoryReleasedOnInterrupt(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, proto, url string, _ client.Client, sc client.SharedMemoryClient) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		abandon := make(chan struct{})
		var stdout, stderr syncBuffer
		done := make(chan int)
		go func() {
			// Any three windows: with -s 60 a loaded machine once failed
			// to stabilise the first level, and the run ended there.
			done <- run(ctx, abandon, append([]string{"-m", "simple", "-i", proto, "-u", url, "--shared-memory", "system", "--concurrency-range", "1:50"}, anyWindows...), &stdout, &stderr)
		}()
		deadline := time.After(60 * time.Second)
		for !strings.Contains(stdout.String(), "Request concurrency: 2") {
			select {
			case <-deadline:
				cancel()
				<-done
				t.Fatalf("no second level within 60 s:\n%s", stdout.String())
			case code := <-done:
				t.Fatalf("the run ended (exit %d) before its second level:\n%s\n%s", code, stdout.String(), stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		cancel()
		close(abandon)
		if code := <-done; code != exitInterrupted {
			t.Errorf("exit %d, want %d\n%s", code, exitInterrupted, stderr.String())
		}
		checkReleased(t, sc, true)
	})
}

// A failed level (every response too large for its output region) still
// releases the regions; validation_data is refused in one line.
func TestSharedMemoryReleasedOnFailure(t *testing.T) {
	forBothProtocols(t, func(t *testing.T, proto, url string, _ client.Client, sc client.SharedMemoryClient) {
		code, stdout, stderr := perfgo(t, t.Context(), append([]string{"-m", "simple", "-i", proto, "-u", url,
			"--shared-memory", "system", "--output-shared-memory-size", "8"}, fast...)...)
		if code != exitError || !strings.Contains(stderr, "should be at least 64 bytes") {
			t.Errorf("exit %d; want %d and the server's reason\n%s\n%s", code, exitError, stdout, stderr)
		}
		checkReleased(t, sc, true)

		code, _, stderr = perfgo(t, t.Context(), "-m", "simple", "-i", proto, "-u", url, "--shared-memory", "system", "--input-data", simpleData(t, false))
		if code != exitError || !strings.Contains(stderr, "cannot check validation_data") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("exit %d, stderr %q; want one line refusing validation_data", code, stderr)
		}
		checkReleased(t, sc, true)
	})
}

// Data files: each step's inputs get regions of their own.
func TestSharedMemoryDataFile(t *testing.T) {
	in0 := make([]int, 16)
	for i := range in0 {
		in0[i] = i
	}
	b, err := json.Marshal(map[string]any{"data": []map[string]any{
		{"INPUT0": in0, "INPUT1": twos(16)},
		{"INPUT0": twos(16), "INPUT1": in0},
	}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "simple.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t)
	for _, proto := range []string{"http", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			_, sc := shmClient(t, srv, proto)
			code, stdout, stderr := perfgo(t, t.Context(), "-m", "simple", "-i", proto, "-u", shmURL(srv, proto), "--shared-memory", "system", "--input-data", path, "--request-count", "20")
			if code != 0 || strings.Contains(stdout, "Failed requests") {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			checkReleased(t, sc, false)
		})
	}
}
