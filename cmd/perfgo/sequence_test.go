package main

import (
	"context"
	"testing"

	"github.com/perfgo/perfgo/pkg/client"
)

// seekCall records what sequenceData asks of the Call.
type seekCall struct {
	client.Call
	at  int
	seq client.Sequence
}

func (c *seekCall) Seek(i int)                    { c.at = i }
func (c *seekCall) SetSequence(s client.Sequence) { c.seq = s }
func (c *seekCall) Do(context.Context) (client.Timing, error) {
	return client.Timing{}, nil
}

func TestSequenceDataSteps(t *testing.T) {
	spans := []streamSpan{{0, 3}, {3, 2}, {5, 4}}
	for _, ownLen := range []bool{true, false} {
		c := &seekCall{}
		d, err := newSequenceData(c, spans, ownLen, 7)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for range 60 {
			stream, n := d.BeginSequence()
			seen[stream] = true
			if want := spans[stream].n; ownLen && n != want || !ownLen && n != 0 {
				t.Fatalf("own lengths %v: stream %d has length %d", ownLen, stream, n)
			}
			for step := range 7 { // past the stream's end: its steps wrap
				d.SetStep(stream, step)
				if want := spans[stream].first + step%spans[stream].n; c.at != want {
					t.Fatalf("stream %d step %d sought request %d, want %d", stream, step, c.at, want)
				}
			}
		}
		if len(seen) != len(spans) {
			t.Errorf("60 sequences used streams %v; want every one of %d", seen, len(spans))
		}
		d.SetSequence(client.Sequence{ID: 9, End: true})
		if c.seq.ID != 9 || !c.seq.End {
			t.Errorf("SetSequence passed %+v", c.seq)
		}
	}
	if _, err := newSequenceData(&seekCall{}, nil, true, 1); err == nil {
		t.Error("no streams: no error")
	}
}
