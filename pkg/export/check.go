package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Experiment is what Check counted in one experiment.
type Experiment struct {
	Mode  string // "concurrency" or "request_rate"
	Value float64
	// Requests exported, and their responses (response timestamps).
	Requests, Responses uint64
	// Windows is the number of measurement windows (boundaries - 1).
	Windows int
}

// Summary is what Check read from an export.
type Summary struct {
	Experiments                    []Experiment
	Version, ServiceKind, Endpoint string
}

// Requests is the export's total of requests.
func (s Summary) Requests() uint64 {
	var n uint64
	for _, e := range s.Experiments {
		n += e.Requests
	}
	return n
}

// Check reads an export as it streams by (one request in memory at a
// time) and checks its structure: perf_analyzer's keys in their order,
// every request sent before its responses and its responses in order,
// one output object per response, window boundaries ascending, nothing
// after the document. The error names the first problem.
func Check(r io.Reader) (Summary, error) {
	c := checker{dec: json.NewDecoder(r)}
	c.dec.UseNumber()
	err := c.document()
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%s: the file ends inside the document (truncated: was the run's writer killed?)", c.where())
		}
		return c.sum, err
	}
	if _, err := c.dec.Token(); err != io.EOF {
		return c.sum, fmt.Errorf("something follows the export's document at byte %d", c.dec.InputOffset())
	}
	return c.sum, nil
}

type checker struct {
	dec *json.Decoder
	sum Summary
	// Where the checker is, for messages.
	experiment, request int
}

func (c *checker) where() string {
	switch {
	case c.experiment == 0:
		return fmt.Sprintf("export (byte %d)", c.dec.InputOffset())
	case c.request == 0:
		return fmt.Sprintf("experiment %d", c.experiment)
	}
	return fmt.Sprintf("experiment %d, request %d", c.experiment, c.request)
}

func (c *checker) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", c.where(), fmt.Sprintf(format, args...))
}

// delim reads the delimiter d.
func (c *checker) delim(d json.Delim) error {
	tok, err := c.dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return c.errorf("found %v where %q was expected", tok, string(d))
	}
	return nil
}

// key reads the object key want.
func (c *checker) key(want string) error {
	tok, err := c.dec.Token()
	if err != nil {
		return err
	}
	if k, ok := tok.(string); !ok || k != want {
		return c.errorf("found %v where the key %q was expected (perf_analyzer's keys, in its order)", tok, want)
	}
	return nil
}

func (c *checker) str(key string, dst *string) error {
	if err := c.key(key); err != nil {
		return err
	}
	tok, err := c.dec.Token()
	if err != nil {
		return err
	}
	s, ok := tok.(string)
	if !ok {
		return c.errorf("%q is %v, not a string", key, tok)
	}
	*dst = s
	return nil
}

func (c *checker) document() error {
	if err := c.delim('{'); err != nil {
		return err
	}
	if err := c.key("experiments"); err != nil {
		return err
	}
	if err := c.delim('['); err != nil {
		return err
	}
	for c.dec.More() {
		c.experiment++
		c.request = 0
		if err := c.experimentObject(); err != nil {
			return err
		}
	}
	if err := c.delim(']'); err != nil {
		return err
	}
	c.experiment, c.request = 0, 0
	for _, k := range []struct {
		key string
		dst *string
	}{{"version", &c.sum.Version}, {"service_kind", &c.sum.ServiceKind}, {"endpoint", &c.sum.Endpoint}} {
		if err := c.str(k.key, k.dst); err != nil {
			return err
		}
	}
	return c.delim('}')
}

// exportRequest is one request as the export writes it.
type exportRequest struct {
	Timestamp          *uint64           `json:"timestamp"`
	SequenceID         *uint64           `json:"sequence_id"`
	RequestInputs      json.RawMessage   `json:"request_inputs"`
	ResponseTimestamps []uint64          `json:"response_timestamps"`
	ResponseOutputs    []json.RawMessage `json:"response_outputs"`
}

func (c *checker) experimentObject() error {
	if err := c.delim('{'); err != nil {
		return err
	}
	if err := c.key("experiment"); err != nil {
		return err
	}
	var head struct {
		Mode  string      `json:"mode"`
		Value json.Number `json:"value"`
	}
	if err := c.dec.Decode(&head); err != nil {
		return err
	}
	v, err := head.Value.Float64()
	if err != nil || math.IsNaN(v) || v < 0 {
		return c.errorf("the experiment's value %q is not a load level", head.Value)
	}
	if head.Mode != "concurrency" && head.Mode != "request_rate" {
		return c.errorf("the experiment's mode %q is neither concurrency nor request_rate", head.Mode)
	}
	e := Experiment{Mode: head.Mode, Value: v}
	if err := c.key("requests"); err != nil {
		return err
	}
	if err := c.delim('['); err != nil {
		return err
	}
	for c.dec.More() {
		c.request++
		var r exportRequest
		if err := c.dec.Decode(&r); err != nil {
			if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				return c.errorf("%v", err)
			}
			return err
		}
		if err := c.checkRequest(&r); err != nil {
			return err
		}
		e.Requests++
		e.Responses += uint64(len(r.ResponseTimestamps))
	}
	if err := c.delim(']'); err != nil {
		return err
	}
	c.request = 0
	if err := c.key("window_boundaries"); err != nil {
		return err
	}
	var bounds []uint64
	if err := c.dec.Decode(&bounds); err != nil {
		return err
	}
	for i := 1; i < len(bounds); i++ {
		if bounds[i] < bounds[i-1] {
			return c.errorf("window boundary %d (%d) comes before boundary %d (%d)", i+1, bounds[i], i, bounds[i-1])
		}
	}
	if len(bounds) > 1 {
		e.Windows = len(bounds) - 1
	}
	c.sum.Experiments = append(c.sum.Experiments, e)
	return c.delim('}')
}

func (c *checker) checkRequest(r *exportRequest) error {
	switch {
	case r.Timestamp == nil:
		return c.errorf("no timestamp")
	case r.SequenceID != nil && *r.SequenceID == 0:
		return c.errorf("sequence_id 0 (written only when not 0)")
	case !isObject(r.RequestInputs):
		return c.errorf("request_inputs is not an object")
	case len(r.ResponseTimestamps) == 0:
		return c.errorf("no response timestamp")
	case len(r.ResponseOutputs) != len(r.ResponseTimestamps):
		return c.errorf("%d response outputs for %d responses", len(r.ResponseOutputs), len(r.ResponseTimestamps))
	}
	prev := *r.Timestamp
	for i, t := range r.ResponseTimestamps {
		if t < prev {
			if i == 0 {
				return c.errorf("its response at %d precedes the request's timestamp %d", t, prev)
			}
			return c.errorf("response %d at %d precedes response %d at %d", i+1, t, i, prev)
		}
		prev = t
	}
	for i, o := range r.ResponseOutputs {
		if !isObject(o) {
			return c.errorf("response output %d is not an object", i+1)
		}
	}
	return nil
}

func isObject(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '{' }

// RunCounts are what a run's own report counted, to compare an export with.
type RunCounts struct {
	// Levels measured (reported or not), each with its windows' successful requests.
	Levels []LevelCount
	// Outside completed successfully outside every window (the report's drained).
	Outside uint64
	// Warmup is the most warm-up requests there were.
	Warmup uint64
}

// LevelCount is one measured level's successful requests over its windows.
type LevelCount struct {
	Mode     string // the export's: "concurrency" or "request_rate"
	Value    float64
	Requests uint64
}

// Against checks the export against the run's counts: each level's
// windowed requests are in its experiment, and the export holds exactly
// the run's requests: the windows', those outside windows and the
// warm-up's (up to their number).
func (s Summary) Against(rc RunCounts) error {
	var windowed uint64
	for _, l := range rc.Levels {
		i := slices.IndexFunc(s.Experiments, func(e Experiment) bool { return e.Mode == l.Mode && e.Value == l.Value })
		if i < 0 {
			return fmt.Errorf("the run measured %s %v but the export has no such experiment", l.Mode, l.Value)
		}
		if e := s.Experiments[i]; e.Requests < l.Requests {
			return fmt.Errorf("experiment %d (%s %v) has %d requests but the run counted %d in its windows", i+1, l.Mode, l.Value, e.Requests, l.Requests)
		}
		windowed += l.Requests
	}
	total, want := s.Requests(), windowed+rc.Outside
	if total < want || total > want+rc.Warmup {
		if rc.Warmup == 0 {
			return fmt.Errorf("the export has %d requests but the run completed %d (%d in windows, %d outside them)", total, want, windowed, rc.Outside)
		}
		return fmt.Errorf("the export has %d requests but the run completed %d (%d in windows, %d outside them) and up to %d warm-up requests", total, want, windowed, rc.Outside, rc.Warmup)
	}
	return nil
}
