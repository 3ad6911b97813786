package server

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/perfgo/perfgo/pkg/shm"
)

func TestSharedMemoryUnregisteredAtShutdown(t *testing.T) {
	mem, err := shm.Create(fmt.Sprintf("/perfgo_srvtest_shutdown_%d", os.Getpid()), 64)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mem.Unlink(); _ = mem.Close() }()
	s, err := New(Options{HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if err := s.core.shm.register(n, mem.Key(), 0, 64); err != nil {
			t.Fatal(err)
		}
	}
	regions := []*shmRegion{s.core.shm.regions["a"], s.core.shm.regions["b"]}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.core.shm.regions); n != 0 {
		t.Fatalf("%d regions still registered after shutdown", n)
	}
	for _, r := range regions {
		if r.mem.Size() != 0 {
			t.Errorf("region %s still mapped after shutdown", r.name)
		}
	}
}
