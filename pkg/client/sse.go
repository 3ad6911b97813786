package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// Triton's generate extension (HTTP only): POST
// /v2/models/{m}[/versions/{v}]/generate_stream with a JSON object whose
// keys are input names (plus "parameters"), answered with server-sent
// events, one response per "data:" event, the end of the body ending the
// request. It goes over net/http whichever transport the Client's other
// requests use: a streamed body is what net/http reads incrementally.

var _ StreamPreparer = (*HTTPClient)(nil)

// PrepareStream encodes req once as a generate_stream request. Inputs
// become top-level keys: one element as a JSON scalar (a string for
// BYTES), more as a flat array; Parameters become "parameters". The
// generate request has no id, outputs or tensor parameters, so ID is not
// sent, Outputs only name what each event must carry (and what counts as
// text), and tensor parameters are refused.
func (c *HTTPClient) PrepareStream(req *InferRequest) (Prepared, error) {
	checked, err := checkRequest(req)
	if err != nil {
		return nil, err
	}
	obj, err := encodeGenerateRequest(checked)
	if err != nil {
		return nil, fmt.Errorf("generate request for model %q: %w", req.Model, err)
	}
	body, err := withParams(obj, checked.params)
	if err != nil {
		return nil, fmt.Errorf("generate request for model %q: %w", req.Model, err)
	}
	seqBody, win, after, err := withSeqWindow(obj, checked.params)
	if err != nil {
		return nil, fmt.Errorf("generate request for model %q: %w", req.Model, err)
	}
	path := modelPath(req.Model, req.Version) + "/generate_stream"
	h := c.headers.Clone()
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "text/event-stream")
	tmpl, err := http.NewRequest(http.MethodPost, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("generate request for model %q: %w", req.Model, err)
	}
	tmpl.Header = h
	// A nil value is not sent, but lets net/http resend a POST whose
	// kept-alive connection the server had closed (see netHTTP.prepare).
	tmpl.Header["Idempotency-Key"] = nil
	tmpl.ContentLength = int64(len(body))
	seqTmpl := tmpl.Clone(context.Background())
	seqTmpl.ContentLength = int64(len(seqBody))
	p := &ssePrepared{
		c: c, op: "generate_stream " + quoteModel(req.Model, req.Version),
		tmpl: tmpl, body: body, seqTmpl: seqTmpl, seqBody: seqBody, win: win, after: after,
		outputs: req.Outputs,
	}
	if c.prefix != "" {
		p.noPath = noSuchPath(http.MethodPost, c.prefix+path)
	}
	return p, nil
}

// encodeGenerateRequest renders the inputs as a JSON object, without
// "parameters".
func encodeGenerateRequest(c *checkedRequest) ([]byte, error) {
	b := []byte{'{'}
	for i, t := range c.Inputs {
		switch {
		case t.Name == "parameters":
			return nil, errors.New(`an input named "parameters" collides with the request parameters; rename the input`)
		case len(c.inputParams[i]) > 0:
			return nil, fmt.Errorf("input %q has parameters, which a generate request cannot carry (shared memory included); send the data itself", t.Name)
		}
		n, err := datatype.ElementCount(t.Shape)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", t.Name, err)
		}
		data, err := appendJSONData(nil, t.Datatype, t.Data)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", t.Name, err)
		}
		if n == 1 {
			data = data[1 : len(data)-1] // the element alone
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = datatype.AppendJSONString(b, t.Name)
		b = append(b, ':')
		b = append(b, data...)
	}
	return append(b, '}'), nil
}

// withParams adds "parameters" to the JSON object obj when there are any.
func withParams(obj []byte, params map[string]any) ([]byte, error) {
	if len(params) == 0 {
		return obj, nil
	}
	p, err := marshalJSON(params)
	if err != nil {
		return nil, err
	}
	b := append([]byte(`{"parameters":`), p...)
	if inner := trimJSONObject(obj); len(inner) > 0 {
		b = append(append(b, ','), inner...)
	}
	return append(b, '}'), nil
}

// ssePrepared is an encoded generate_stream request: tmpl and body as
// given, seqTmpl and seqBody with room for sequence parameters at win
// (see withSeqWindow). All are shared, read-only, by the Calls.
type ssePrepared struct {
	c             *HTTPClient
	op            string
	tmpl, seqTmpl *http.Request
	body, seqBody []byte
	win           int
	after         bool
	outputs       []string
	noPath        string
}

func (p *ssePrepared) NewCall() (Call, error) {
	c := &sseCall{p: p, rt: p.c.sse.rt, timeout: callTimeout{d: p.c.timeout}, check: newOutputCheck(p.outputs)}
	c.events.r = bufio.NewReaderSize(&c.limit, 4096)
	c.getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(c.body())), nil }
	return c, nil
}

// sseCall sends a generate_stream request and reads its events as they
// arrive, with a reader, line and event buffers that it reuses.
type sseCall struct {
	p       *ssePrepared
	rt      *http.Transport
	timeout callTimeout
	check   *outputCheck
	events  sseReader
	limit   limitReader
	getBody func() (io.ReadCloser, error)
	gaps    []time.Duration
	// last is the data of the latest event with outputs, nil after a
	// failure; lastBuf holds it.
	last, lastBuf []byte
	// seq is the sequence the requests carry; own is then the Call's copy
	// of seqBody, whose window is win.
	seq Sequence
	own []byte
	win []byte
	// kept are the events with outputs of the latest Do (OutputKeeper).
	kept keptResponses
}

var (
	_ Call         = (*sseCall)(nil)
	_ Sequencer    = (*sseCall)(nil)
	_ OutputKeeper = (*sseCall)(nil)
)

func (c *sseCall) KeepOutputs(on bool) { c.kept.on = on }

// Outputs decodes the events with outputs of the latest Do.
func (c *sseCall) Outputs(fn func([]Tensor)) error { return c.kept.each(c.decodeEvent, fn) }

func (c *sseCall) SetSequence(s Sequence) {
	c.seq = s
	c.applySeq(false)
}

// applySeq writes the sequence into the Call's copy of the body; fresh
// takes a new copy (after a failure net/http may still read the old one).
func (c *sseCall) applySeq(fresh bool) {
	if c.seq.ID == 0 {
		c.win = nil
		return
	}
	if c.win == nil || fresh {
		if fresh {
			c.own = nil
		}
		c.own = append(c.own[:0], c.p.seqBody...)
		c.win = c.own[c.p.win : c.p.win+jsonSeqWindow]
	}
	writeJSONSeq(c.win, c.seq, c.p.after)
}

func (c *sseCall) body() []byte {
	if c.win != nil {
		return c.own
	}
	return c.p.body
}

// Do sends the request and reads its events up to the end of the body.
func (c *sseCall) Do(ctx context.Context) (Timing, error) {
	c.last = nil
	c.gaps = c.gaps[:0]
	c.kept.reset()
	rctx := ctx
	if c.timeout.d > 0 {
		rctx = c.timeout.start(ctx)
	}
	start := time.Now()
	t, err := c.exchange(rctx, start)
	t.Total = time.Since(start)
	timedOut := c.timeout.d > 0 && c.timeout.stop()
	if err == nil {
		return t, nil
	}
	c.last = nil
	c.kept.reset()
	if c.win != nil {
		c.applySeq(true)
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return t, e
	}
	switch {
	case ctx.Err() != nil:
		return t, contextError(c.p.op, ctx.Err(), err)
	case timedOut:
		return t, &Error{Op: c.p.op, Kind: ErrTimeout, Class: "timeout", Err: fmt.Errorf("the stream did not end within the request timeout %v: %w", c.timeout.d, err)}
	}
	return t, transportError(rctx, c.p.op, netHTTPErr(err))
}

func (c *sseCall) exchange(ctx context.Context, start time.Time) (Timing, error) {
	var t Timing
	tmpl := c.p.tmpl
	if c.win != nil {
		tmpl = c.p.seqTmpl
	}
	// WithContext is a shallow copy: header and body bytes are shared.
	req := tmpl.WithContext(ctx)
	req.Body = io.NopCloser(bytes.NewReader(c.body()))
	req.GetBody = c.getBody
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		return t, err
	}
	defer resp.Body.Close() // unread, it drops the connection, as a failure needs
	t.Send = time.Since(start)
	if resp.StatusCode != http.StatusOK {
		body, _ := readBody(resp.Body, nil, resp.ContentLength, 64<<10)
		e := httpStatusError(c.p.op, resp.StatusCode, body, false)
		if c.p.noPath != "" {
			pathNotFound(e, httpResult{status: resp.StatusCode, body: body}, c.p.noPath)
		}
		return t, e
	}
	if ct := resp.Header.Get("Content-Type"); !isEventStream(ct) {
		return t, protocolError(c.p.op, fmt.Sprintf("the response's Content-Type is %q, not text/event-stream", ct), nil)
	}
	c.limit = limitReader{r: resp.Body, left: c.p.c.maxResponse, limit: c.p.c.maxResponse}
	c.events.r.Reset(&c.limit) // forgets what the previous response left, its end included
	c.events.reset()
	var prev time.Duration
	for {
		data, err := c.events.next()
		if err == io.EOF {
			t.Gaps = c.gaps
			if t.Responses == 0 {
				t.First = time.Since(start)
			}
			return t, nil
		}
		if err != nil {
			return t, err
		}
		at := time.Since(start)
		parsed := time.Now()
		ev, err := c.scanEvent(data)
		t.Recv += time.Since(parsed)
		if err != nil {
			return t, err
		}
		if ev.outputs == 0 {
			continue // e.g. an empty final response
		}
		if t.Responses == 0 {
			t.First = at
		} else {
			c.gaps = append(c.gaps, at-prev)
		}
		prev = at
		t.Responses++
		t.Elements += ev.elements
		c.lastBuf = append(c.lastBuf[:0], data...)
		c.last = c.lastBuf
		c.kept.add(data)
	}
}

// isEventStream reports whether a Content-Type is text/event-stream,
// with or without parameters.
func isEventStream(ct string) bool {
	const want = "text/event-stream"
	if len(ct) < len(want) || !strings.EqualFold(ct[:len(want)], want) {
		return false
	}
	rest := strings.TrimLeft(ct[len(want):], " \t")
	return rest == "" || rest[0] == ';'
}

// sseEvent is what Do learns of one event.
type sseEvent struct {
	outputs  int
	elements int64
}

// scanEvent checks one event's data: a JSON object whose members other
// than model_name, model_version and id are outputs (each requested one
// must be there), or an "error". Text elements are counted: a string is
// one, an array of strings its length.
func (c *sseCall) scanEvent(data []byte) (sseEvent, error) {
	var ev sseEvent
	s := jsonScan{b: data}
	if s.peek() != '{' {
		return ev, protocolError(c.p.op, fmt.Sprintf("an event's data is not a JSON object (starts with %q)", start(data)), nil)
	}
	clear(c.check.seen)
	s.open()
	for n := 0; s.more('}', n); n++ {
		k := s.key()
		switch {
		case jsonStrEq(k, "error"):
			return ev, c.eventError(data)
		case jsonStrEq(k, "model_name"), jsonStrEq(k, "model_version"), jsonStrEq(k, "id"), jsonStrEq(k, "parameters"):
			s.value()
			continue
		}
		named := len(c.check.names) > 0
		if named && c.check.see(k, jsonStrEq) < 0 {
			s.value()
			continue
		}
		ev.outputs++
		ev.elements += s.textElements()
	}
	s.end()
	if s.bad {
		return ev, protocolError(c.p.op, fmt.Sprintf("an event's data is not valid JSON (error at byte %d; starts with %q)", s.i, start(data)), nil)
	}
	if ev.outputs > 0 {
		if err := c.check.missing(ev.outputs); err != nil {
			return ev, checkError(c.p.op, err, nil)
		}
	}
	return ev, nil
}

// textElements skips a value and returns its text elements: 1 for a
// string, the length of an array of strings, else 0 (numbers are not
// text, as gRPC counts BYTES outputs only: simple's two INT32 [16]
// outputs were counted as 32 elements per response).
func (s *jsonScan) textElements() int64 {
	switch s.peek() {
	case '"':
		s.str()
		return 1
	case '[':
	default:
		s.value()
		return 0
	}
	s.open()
	var n int64
	strs := true
	for ; s.more(']', int(n)); n++ {
		strs = strs && s.peek() == '"'
		s.value()
	}
	if !strs {
		return 0
	}
	return n
}

// eventError is the failure an "error" event reports.
func (c *sseCall) eventError(data []byte) error {
	var v struct {
		Error any `json:"error"`
	}
	_ = json.Unmarshal(data, &v)
	msg, ok := v.Error.(string)
	if !ok {
		msg = string(start(data))
	}
	kind := modelKindFromMessage(msg)
	if kind == nil {
		kind = ErrServer
	}
	return &Error{Op: c.p.op, Kind: kind, Class: "http:STREAM_ERROR", Message: msg}
}

// Response decodes the latest event that carried outputs. The generate
// extension has no datatypes: strings become BYTES, numbers FP64 and
// booleans BOOL, each flat.
func (c *sseCall) Response() (*InferResponse, error) {
	if c.last == nil {
		return nil, fmt.Errorf("%s: no response: call Do first (or the last Do failed)", c.p.op)
	}
	return c.decodeEvent(c.last)
}

// decodeEvent decodes one event's data as a response.
func (c *sseCall) decodeEvent(data []byte) (*InferResponse, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, protocolError(c.p.op, "cannot decode the event", err)
	}
	r := &InferResponse{}
	r.Model, _ = m["model_name"].(string)
	r.Version, _ = m["model_version"].(string)
	r.ID, _ = m["id"].(string)
	if p, ok := m["parameters"].(map[string]any); ok {
		r.Parameters = fromJSONParams(p)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch k {
		case "model_name", "model_version", "id", "parameters":
			continue
		}
		if t, ok := generateTensor(k, m[k]); ok {
			r.Outputs = append(r.Outputs, t)
		}
	}
	return r, nil
}

// generateTensor maps a generate output value onto a tensor.
func generateTensor(name string, v any) (Tensor, bool) {
	vals, ok := v.([]any)
	if !ok {
		vals = []any{v}
	}
	t := Tensor{Name: name, Shape: []int64{int64(len(vals))}}
	for _, x := range vals {
		switch x := x.(type) {
		case string:
			t.Datatype = TypeBytes
			t.Data = AppendBytesElement(t.Data, []byte(x))
		case json.Number:
			f, _ := x.Float64()
			t.Datatype = TypeFP64
			t.Data = binary.LittleEndian.AppendUint64(t.Data, math.Float64bits(f))
		case bool:
			t.Datatype = TypeBool
			b := byte(0)
			if x {
				b = 1
			}
			t.Data = append(t.Data, b)
		default:
			return t, false
		}
	}
	return t, t.Datatype != ""
}

// limitReader reads r and fails once more than left bytes came: the
// maximum response size bounds a whole stream.
type limitReader struct {
	r           io.Reader
	left, limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.left -= int64(n); l.left < 0 {
		return n, &tooLargeError{size: -1, limit: l.limit}
	}
	return n, err
}

// sseReader splits a server-sent event stream into events, as the HTML
// standard says: lines end at CRLF, LF or CR; a blank line dispatches the
// event; "data" fields are joined with LF; comments (":") and other
// fields are skipped; an event without data is not dispatched.
type sseReader struct {
	r *bufio.Reader
	// line and data are scratch, reused; skipLF: the previous line ended
	// with CR, so a LF that follows belongs to it.
	line, data []byte
	hasData    bool
	skipLF     bool
}

func (s *sseReader) reset() {
	s.data, s.hasData, s.skipLF = s.data[:0], false, false
}

// next returns the data of the next event, valid until the next call;
// io.EOF at the end of the stream. An event cut off by the end fails as
// truncated.
func (s *sseReader) next() ([]byte, error) {
	for {
		line, err := s.readLine()
		if err == io.EOF {
			if s.hasData || len(line) > 0 {
				return nil, fmt.Errorf("%w: the stream ends within an event", errTruncated)
			}
			return nil, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			// net/http's word for a chunked body cut off (the server
			// aborted the stream after its headers): not unreachable.
			return nil, fmt.Errorf("%w: the stream was cut off: %w", errTruncated, err)
		}
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			if !s.hasData {
				continue
			}
			s.hasData = false
			return bytes.TrimSuffix(s.data, []byte{'\n'}), nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte{' '})
		}
		if string(field) == "data" {
			if !s.hasData {
				s.data = s.data[:0]
				s.hasData = true
			}
			s.data = append(append(s.data, value...), '\n')
		}
	}
}

// readLine returns the next line without its end; at the end of the
// stream, what is left and io.EOF.
func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	if s.skipLF {
		s.skipLF = false
		if b, err := s.r.Peek(1); err == nil && b[0] == '\n' {
			_, _ = s.r.Discard(1)
		}
	}
	for {
		buf, err := s.r.Peek(max(1, s.r.Buffered()))
		if len(buf) == 0 {
			return s.line, err
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			s.line = append(s.line, buf...)
			_, _ = s.r.Discard(len(buf))
			continue
		}
		s.line = append(s.line, buf[:i]...)
		s.skipLF = buf[i] == '\r'
		_, _ = s.r.Discard(i + 1)
		return s.line, nil
	}
}
