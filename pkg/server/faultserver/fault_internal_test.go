package faultserver

import (
	"fmt"
	"testing"
)

func TestFaultHits(t *testing.T) {
	tests := []struct {
		fault Fault
		want  string // which of requests 1..8 meet the fault
	}{
		{Fault{}, "--------"},
		{Fault{Kind: Garbage}, "xxxxxxxx"},
		{StallAfter(3), "---xxxxx"},
		{DropEvery(3), "--x--x--"},
		{Fault{Kind: Huge, After: 2, Every: 2}, "---x-x-x"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.fault), func(t *testing.T) {
			got := make([]byte, 8)
			for n := range got {
				got[n] = '-'
				if tt.fault.hits(int64(n + 1)) {
					got[n] = 'x'
				}
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
