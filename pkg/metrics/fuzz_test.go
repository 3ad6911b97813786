package metrics

import (
	"bytes"
	"testing"
)

// FuzzParse: whatever a server sends, parsing and aggregating never panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(gpuText("0.5", "100", "10", "1000")))
	f.Add([]byte("# TYPE lat histogram\nlat_bucket{le=\"1\"} 3\nlat_bucket{le=\"+Inf\"} 4\nlat_sum 2\nlat_count 4\n"))
	f.Add([]byte("# TYPE req counter\nreq{model=\"a\"} 1e308\nreq{model=\"a\\\"b\"} NaN\n"))
	f.Add([]byte("# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		if len(text) > 1<<16 {
			return // the scraper bounds its input; so does the fuzz
		}
		fams, err := Parse(bytes.NewReader(text))
		if err != nil {
			return
		}
		var names []string
		for n := range fams {
			names = append(names, n)
		}
		s := Sample{Families: fams}
		Aggregate([]Sample{s, s}, names)
	})
}
