package loadgen

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/result"
)

// seqServer keeps Triton's sequence rules on the fake clock: a request
// for a sequence that is not open must start it, and (serial) one
// sequence has one request in flight. It records what it saw.
type seqServer struct {
	service time.Duration
	length  int // > 0: callers fix every sequence's length (data streams)

	mu         sync.Mutex
	open       map[uint64]int // id -> requests so far
	inFlight   map[uint64]int
	lengths    []int // of ended sequences
	ids        map[uint64]bool
	violations []string
	overlaps   int // two requests of one sequence in flight at once
}

func newSeqServer(service time.Duration) *seqServer {
	return &seqServer{service: service, open: map[uint64]int{}, inFlight: map[uint64]int{}, ids: map[uint64]bool{}}
}

func (s *seqServer) newCaller(int) (Caller, error) { return &seqCaller{s: s}, nil }

type seqCaller struct {
	s    *seqServer
	q    client.Sequence
	step int
}

func (c *seqCaller) SetSequence(q client.Sequence) { c.q = q }

// The data has one stream of s.length steps (0: no data).
func (c *seqCaller) BeginSequence() (stream, length int) { return 0, c.s.length }

func (c *seqCaller) SetStep(stream, step int) { c.step = step }

func (c *seqCaller) Do(ctx context.Context) (client.Timing, error) {
	s, q := c.s, c.q
	start := time.Now()
	s.mu.Lock()
	s.ids[q.ID] = true
	if s.inFlight[q.ID] > 0 {
		s.overlaps++
	}
	s.inFlight[q.ID]++
	n, isOpen := s.open[q.ID]
	var err error
	switch {
	case q.ID == 0:
		s.violations = append(s.violations, "a request without a sequence id")
	case !isOpen && !q.Start:
		err = fmt.Errorf("sequence %d must specify the START flag on its first request", q.ID)
		s.violations = append(s.violations, err.Error())
	case q.Start && isOpen:
		s.violations = append(s.violations, fmt.Sprintf("sequence %d started again while open after %d requests", q.ID, n))
	}
	if err == nil {
		if q.Start {
			n = 0
		}
		if s.length > 0 && c.step != n {
			s.violations = append(s.violations, fmt.Sprintf("sequence %d sent step %d as its request %d", q.ID, c.step, n))
		}
		s.open[q.ID] = n + 1
		if q.End {
			delete(s.open, q.ID)
			s.lengths = append(s.lengths, n+1)
		}
	}
	s.mu.Unlock()
	time.Sleep(s.service)
	s.mu.Lock()
	s.inFlight[q.ID]--
	s.mu.Unlock()
	if err != nil {
		return client.Timing{}, &client.Error{Op: "infer", Kind: client.ErrBadRequest, Class: "grpc:INVALID_ARGUMENT", Message: err.Error()}
	}
	return client.Timing{Total: time.Since(start)}, ctx.Err()
}

// check reports what a run left wrong on the server.
func (s *seqServer) check(t *testing.T, idStart, idEnd uint64) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.open) != 0 {
		t.Errorf("%d sequences left open on the server: %v", len(s.open), s.open)
	}
	if len(s.violations) > 0 {
		t.Errorf("%d violations, first: %s", len(s.violations), s.violations[0])
	}
	for id := range s.ids {
		if id < idStart || id >= idEnd {
			t.Errorf("sequence id %d outside %d:%d", id, idStart, idEnd)
		}
	}
}

func TestSequencesClosedLoop(t *testing.T) {
	for _, tt := range []struct {
		name      string
		opts      SequenceOptions
		dataLen   int
		lo, hi    int // every full sequence's length is within
		threshold time.Duration
	}{
		{"fixed length", SequenceOptions{Length: 5}, 0, 5, 5, 0},
		{"varied length", SequenceOptions{Length: 10, Variation: 20}, 0, 8, 12, 0},
		{"data streams fix the length", SequenceOptions{Length: 10, Variation: 50}, 7, 7, 7, 0},
		{"small id range", SequenceOptions{Length: 3, IDStart: 100, IDEnd: 104}, 0, 3, 3, 0},
		{"threshold stop", SequenceOptions{Length: 6}, 0, 6, 6, 5 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSeqServer(3 * time.Millisecond)
				s.length = tt.dataLen
				o := baseOptions(&fakeServer{}, 2)
				o.End, o.Step = 4, 2 // levels 2 and 4: workers join and leave mid-sequence
				o.NewCaller = s.newCaller
				seq := tt.opts
				o.Sequences = &seq
				if tt.threshold > 0 {
					o.LatencyThreshold = tt.threshold
					s.service = 7 * time.Millisecond
				}
				run, err := Run(t.Context(), o)
				if tt.threshold > 0 {
					if run.Stop != result.StopLatencyThreshold {
						t.Fatalf("stop %v (%v); want the latency threshold", run.Stop, err)
					}
				} else if err != nil {
					t.Fatalf("Run: %v", err)
				}
				idStart, idEnd := max(tt.opts.IDStart, 1), tt.opts.IDEnd
				if idEnd == 0 {
					idEnd = 1 << 32
				}
				s.check(t, idStart, idEnd)
				if s.overlaps != 0 {
					t.Errorf("%d overlapping requests of one sequence in closed loop", s.overlaps)
				}
				full := 0
				for _, n := range s.lengths {
					if n >= tt.lo && n <= tt.hi {
						full++
					} else if n > tt.hi {
						t.Errorf("a sequence of %d requests; want at most %d", n, tt.hi)
					}
				}
				if full == 0 {
					t.Errorf("no sequence of %d-%d requests among %d", tt.lo, tt.hi, len(s.lengths))
				}
				if rs := run.Settings.Sequence; rs == nil || rs.Live != 4 || !rs.Serial {
					t.Errorf("settings %+v; want 4 live, serial", rs)
				}
				if tt.threshold == 0 {
					for _, l := range run.Levels {
						if l.Client.Sequences == 0 || l.Client.SequenceRate != float64(l.Client.Sequences)/l.Client.Duration.Seconds() {
							t.Errorf("level %v: %d sequences, %v/s", l.Value, l.Client.Sequences, l.Client.SequenceRate)
						}
					}
				}
			})
		})
	}
}

func TestSequencesOpenLoop(t *testing.T) {
	for _, serial := range []bool{false, true} {
		t.Run(fmt.Sprint("serial ", serial), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSeqServer(3 * time.Millisecond)
				o := baseOptions(&fakeServer{}, 500) // a request every 2 ms, 3 ms each
				o.Mode, o.End, o.Step = result.RequestRate, 1000, 500
				o.NewCaller, o.coarseTimers = s.newCaller, true
				o.Sequences = &SequenceOptions{Length: 4, Live: 2, Serial: serial}
				run, err := Run(t.Context(), o)
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				s.check(t, 1, 1<<32)
				if serial && s.overlaps != 0 {
					t.Errorf("%d overlapping requests of one sequence with serial sequences", s.overlaps)
				}
				if !serial && s.overlaps == 0 {
					t.Error("no overlapping requests without serial sequences: the test cannot tell serial apart")
				}
				for _, l := range run.Levels {
					if l.Client.Sequences == 0 || l.Client.Failed != 0 {
						t.Errorf("level %v: %d sequences, %d failed", l.Value, l.Client.Sequences, l.Client.Failed)
					}
				}
				if serial && run.Levels[1].Client.Late == 0 {
					t.Error("serial sequences at 1,000/s with 2 live sequences of 3 ms requests: nothing late")
				}
			})
		})
	}
}

func TestSequencesEndedOnCancel(t *testing.T) {
	for _, mode := range []result.Mode{result.Concurrency, result.RequestRate} {
		t.Run(string(mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSeqServer(3 * time.Millisecond)
				o := baseOptions(&fakeServer{}, 3)
				if mode == result.RequestRate {
					o.Start, o.End = 400, 400
				}
				o.Mode, o.NewCaller, o.coarseTimers = mode, s.newCaller, true
				o.Sequences = &SequenceOptions{Length: 50}
				ctx, cancel := context.WithCancel(t.Context())
				time.AfterFunc(150*time.Millisecond, cancel) // Ctrl-C mid-level
				run, _ := Run(ctx, o)
				if run.Stop != result.StopCancelled {
					t.Errorf("stop %v; want cancelled", run.Stop)
				}
				s.check(t, 1, 1<<32)
				if len(s.lengths) == 0 {
					t.Error("no sequence ended")
				}
			})
		})
	}
}

func TestSequenceOptionsRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    func(*Options)
		want string
	}{
		{"range below concurrency", func(o *Options) { o.End = 8; o.Sequences.IDStart, o.Sequences.IDEnd = 1, 5 }, "fewer than the concurrency"},
		{"range below live sequences", func(o *Options) {
			o.Mode, o.Start, o.End = result.RequestRate, 10, 10
			o.Sequences.Live, o.Sequences.IDStart, o.Sequences.IDEnd = 8, 10, 12
		}, "fewer than --num-of-sequences"},
		{"open-ended sweep", func(o *Options) { o.End, o.LatencyThreshold = 0, time.Second }, "open-ended"},
		{"empty range", func(o *Options) { o.Sequences.IDStart, o.Sequences.IDEnd = 5, 5 }, "is empty"},
		{"batch", func(o *Options) { o.BatchSize = 4 }, "batch size 4"},
		{"negative variation", func(o *Options) { o.Sequences.Variation = -1 }, "variation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSeqServer(time.Millisecond)
			o := baseOptions(&fakeServer{}, 1)
			o.NewCaller, o.Sequences = s.newCaller, &SequenceOptions{}
			tt.o(&o)
			_, err := Run(t.Context(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSequencesNeedSequenceCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeServer{service: constService(time.Millisecond)}
		o := baseOptions(s, 1)
		o.Sequences = &SequenceOptions{}
		_, err := Run(t.Context(), o)
		if err == nil || !strings.Contains(err.Error(), "sequence parameters") {
			t.Errorf("error %v; want one about sequence parameters", err)
		}
	})
}

func TestSeqIDsRoundRobinSkipsInUse(t *testing.T) {
	a := newSeqIDs(&SequenceOptions{IDStart: 10, IDEnd: 13})
	var got []uint64
	for range 3 {
		got = append(got, a.take())
	}
	// A fourth waits for a release.
	fourth := make(chan uint64)
	go func() { fourth <- a.take() }()
	select {
	case id := <-fourth:
		t.Fatalf("a fourth id out of three: %d", id)
	case <-time.After(20 * time.Millisecond):
	}
	a.release(11)
	if id := <-fourth; id != 11 {
		t.Errorf("after releasing 11: %d; want 11", id)
	}
	a.release(10)
	a.release(12)
	id := a.take() // round-robin goes on after 11
	if fmt.Sprint(got) != "[10 11 12]" || id != 12 {
		t.Errorf("ids %v then %d; want [10 11 12] then 12", got, id)
	}
}
