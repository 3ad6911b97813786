package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// HTTPClient is a Client over HTTP/1.1 keep-alive connections.
type HTTPClient struct {
	base    string // scheme://host:port[/prefix], no trailing slash
	prefix  string // the path prefix of base, "" for none
	t       httpTransport
	headers http.Header // user headers, sent on every request
	timeout time.Duration
	control time.Duration // bounds each control call
	// binaryIn/binaryOut select the binary tensor data extension.
	binaryIn, binaryOut bool
	// sse carries generate_stream requests (see PrepareStream): t itself
	// when it is net/http, else a net/http transport of its own.
	sse         *netHTTP
	maxResponse int64
}

var _ Client = (*HTTPClient)(nil)

// NewHTTP builds the client. When a tensor format is left to the server
// ("") it asks the server for its extensions, so the server must answer.
func NewHTTP(ctx context.Context, opts Options) (*HTTPClient, error) {
	if err := checkCommon(&opts); err != nil {
		return nil, err
	}
	base, host, err := parseHTTPURL(opts.URL)
	if err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	if strings.HasPrefix(base, "https://") {
		if tlsCfg, err = httpsTLSConfig(opts.TLS, host); err != nil {
			return nil, err
		}
	} else if t := opts.TLS; t.HTTPSCAFile != "" || t.HTTPSClientCert != "" || t.HTTPSClientKey != "" {
		return nil, fmt.Errorf("HTTPS options given for %s: use an https:// URL", base)
	}
	conns := opts.Connections
	if conns == 0 {
		conns = opts.Workers // may stay 0: no cap
	}
	t, err := newHTTPTransport(opts.httpTransport, base, conns, opts.MaxResponseSize, tlsCfg)
	if err != nil {
		return nil, err
	}
	c := &HTTPClient{base: base, t: t, timeout: opts.Timeout, control: opts.ControlTimeout, headers: http.Header{}, maxResponse: opts.MaxResponseSize}
	if nt, ok := t.(*netHTTP); ok {
		c.sse = nt
	} else {
		c.sse = newNetHTTP(conns, opts.MaxResponseSize, tlsCfg)
	}
	if u, err := url.Parse(base); err == nil {
		c.prefix = u.EscapedPath()
	}
	for k, v := range opts.Headers {
		c.headers.Set(k, v)
	}
	in, out := strings.ToLower(opts.InputTensorFormat), strings.ToLower(opts.OutputTensorFormat)
	for _, f := range []string{in, out} {
		if f != "" && f != FormatBinary && f != FormatJSON {
			return nil, fmt.Errorf("tensor format %q: use binary or json", f)
		}
	}
	if in == "" || out == "" {
		md, err := c.ServerMetadata(ctx)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("ask the server for its v2 extensions (GET /v2): %w", err)
		}
		auto := FormatJSON
		if slices.Contains(md.GetExtensions(), "binary_tensor_data") {
			auto = FormatBinary
		}
		in, out = cmp.Or(in, auto), cmp.Or(out, auto)
	}
	c.binaryIn, c.binaryOut = in == FormatBinary, out == FormatBinary
	return c, nil
}

// parseHTTPURL accepts host:port or an http(s) URL with an optional path prefix.
func parseHTTPURL(raw string) (base, host string, err error) {
	if raw == "" {
		raw = "localhost:8000"
	}
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("HTTP URL %q: %w; give host:port or http(s)://host:port", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", fmt.Errorf("HTTP URL %q: scheme %q; use http or https", raw, u.Scheme)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("HTTP URL %q: give host:port or http(s)://host:port[/prefix]", raw)
	}
	host = u.Hostname()
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		// No port: libcurl's defaults.
		if u.Scheme == "https" {
			u.Host = net.JoinHostPort(host, "443")
		} else {
			u.Host = net.JoinHostPort(host, "80")
		}
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/"), host, nil
}

// modelPath is /v2/models/{m}[/versions/{v}].
func modelPath(model, version string) string {
	p := "/v2/models/" + url.PathEscape(model)
	if version != "" {
		p += "/versions/" + url.PathEscape(version)
	}
	return p
}

// Close releases idle connections.
func (c *HTTPClient) Close() error {
	c.t.close()
	c.sse.close()
	return nil
}

// BinaryTensors reports the tensor formats in use (input, output).
func (c *HTTPClient) BinaryTensors() (in, out bool) { return c.binaryIn, c.binaryOut }

// roundTrip sends one control request. It returns the response whatever
// its status; err is a transport failure, already classified.
func (c *HTTPClient) roundTrip(ctx context.Context, op, method, path string, body []byte) (httpResult, error) {
	h := c.headers.Clone()
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	x, err := c.t.prepare(method, c.base+path, h, body, false)
	if err != nil {
		return httpResult{}, &Error{Op: op, Kind: ErrBadRequest, Class: "client", Message: err.Error(), Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.control)
	defer cancel()
	res, err := x.do(ctx, time.Time{}, nil)
	if err != nil {
		return res, transportError(ctx, op, err)
	}
	return res, nil
}

// getProto fetches path and decodes its JSON into m, ignoring fields this
// build does not know (a newer server's additions). wrap, if set, turns the
// body into the message's JSON (e.g. a bare array into {"models": [...]}).
func (c *HTTPClient) getProto(ctx context.Context, op, method, path string, body []byte, optional bool, m proto.Message, wrap func([]byte) []byte) error {
	res, err := c.roundTrip(ctx, op, method, path, body)
	if err != nil {
		return err
	}
	if res.status != http.StatusOK {
		return c.statusError(op, method, path, res, optional)
	}
	js := res.body
	if wrap != nil {
		js = wrap(js)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(js, m); err != nil {
		return protocolError(op, "response is not the expected JSON", err)
	}
	return nil
}

// statusError classifies a non-200 answer to a control call. A 404
// without a v2 error body for a path every v2 server has (GET /v2, or any
// path under a URL prefix) says the URL is wrong, not the model.
func (c *HTTPClient) statusError(op, method, path string, res httpResult, optional bool) *Error {
	e := httpStatusError(op, res.status, res.body, optional)
	if !optional && (c.prefix != "" || !strings.HasPrefix(path, "/v2/models/")) {
		pathNotFound(e, res, noSuchPath(method, c.prefix+path))
	}
	return e
}

// pathNotFound turns e into ErrNotV2 with msg when res is a 404 without a
// v2 error body.
func pathNotFound(e *Error, res httpResult, msg string) {
	if _, isV2 := v2ErrorMessage(res.body); res.status == http.StatusNotFound && !isV2 {
		e.Kind, e.Message = ErrNotV2, msg
	}
}

// noSuchPath is the message of a 404 that is not a v2 answer.
func noSuchPath(method, path string) string {
	return method + " " + path + ": the server has no such path (HTTP 404 without a v2 error): check the URL's path prefix (-u)"
}

// health asks a health endpoint: 200 is true, any other answer false.
func (c *HTTPClient) health(ctx context.Context, op, path string) (int, error) {
	res, err := c.roundTrip(ctx, op, http.MethodGet, path, nil)
	if err != nil {
		return 0, err
	}
	return res.status, nil
}

func (c *HTTPClient) ServerLive(ctx context.Context) (bool, error) {
	st, err := c.health(ctx, "GET /v2/health/live", "/v2/health/live")
	return st == http.StatusOK, err
}

func (c *HTTPClient) ServerReady(ctx context.Context) (bool, error) {
	st, err := c.health(ctx, "GET /v2/health/ready", "/v2/health/ready")
	return st == http.StatusOK, err
}

func (c *HTTPClient) ServerMetadata(ctx context.Context) (*inferencepb.ServerMetadataResponse, error) {
	m := &inferencepb.ServerMetadataResponse{}
	if err := c.getProto(ctx, "GET /v2", http.MethodGet, "/v2", nil, false, m, nil); err != nil {
		return nil, err
	}
	return m, nil
}

// ModelReady reports whether the model can serve. A server that says the
// model does not exist gives (false, an error that Is ErrModelNotFound).
func (c *HTTPClient) ModelReady(ctx context.Context, model, version string) (bool, error) {
	path := modelPath(model, version) + "/ready"
	op := "GET " + path
	res, err := c.roundTrip(ctx, op, http.MethodGet, path, nil)
	if err != nil {
		return false, err
	}
	if res.status == http.StatusOK {
		return true, nil
	}
	// Only a v2 error body can say the model does not exist; a bare status
	// is just "not ready", unless a URL prefix makes the path doubtful.
	if _, isV2 := v2ErrorMessage(res.body); !isV2 && res.status == http.StatusNotFound && c.prefix != "" {
		return false, c.statusError(op, http.MethodGet, path, res, false)
	} else if isV2 {
		if e := httpStatusError(op, res.status, res.body, false); errors.Is(e, ErrModelNotFound) {
			return false, e
		}
	}
	return false, nil
}

func (c *HTTPClient) ModelMetadata(ctx context.Context, model, version string) (*inferencepb.ModelMetadataResponse, error) {
	path := modelPath(model, version)
	m := &inferencepb.ModelMetadataResponse{}
	if err := c.getProto(ctx, "GET "+path, http.MethodGet, path, nil, false, m, nil); err != nil {
		return nil, err
	}
	return m, nil
}

func (c *HTTPClient) ModelConfig(ctx context.Context, model, version string) (*inferencepb.ModelConfig, error) {
	path := modelPath(model, version) + "/config"
	m := &inferencepb.ModelConfig{}
	if err := c.getProto(ctx, "GET "+path, http.MethodGet, path, nil, true, m, nil); err != nil {
		return nil, err
	}
	return m, nil
}

func (c *HTTPClient) ModelStatistics(ctx context.Context, model, version string) (*inferencepb.ModelStatisticsResponse, error) {
	path := "/v2/models/stats"
	if model != "" {
		path = modelPath(model, version) + "/stats"
	}
	m := &inferencepb.ModelStatisticsResponse{}
	if err := c.getProto(ctx, "GET "+path, http.MethodGet, path, nil, true, m, nil); err != nil {
		return nil, err
	}
	return m, nil
}

func (c *HTTPClient) RepositoryIndex(ctx context.Context, readyOnly bool) (*inferencepb.RepositoryIndexResponse, error) {
	body, _ := json.Marshal(map[string]bool{"ready": readyOnly})
	m := &inferencepb.RepositoryIndexResponse{}
	// The HTTP answer is a bare array of the gRPC message's "models".
	wrap := func(b []byte) []byte {
		return append(append([]byte(`{"models":`), b...), '}')
	}
	if err := c.getProto(ctx, "POST /v2/repository/index", http.MethodPost, "/v2/repository/index", body, true, m, wrap); err != nil {
		return nil, err
	}
	return m, nil
}

// Prepare encodes req once: the body, its headers and the URL are
// serialized into wire bytes that every Call made from the result sends
// as they are, without copying them.
func (c *HTTPClient) Prepare(req *InferRequest) (Prepared, error) {
	checked, err := checkRequest(req)
	if err != nil {
		return nil, err
	}
	body, headerLen, err := encodeHTTPRequest(checked, c.binaryIn, c.binaryOut)
	if err != nil {
		return nil, err
	}
	path := modelPath(req.Model, req.Version) + "/infer"
	x, err := c.prepareInfer(req.Model, path, body, headerLen)
	if err != nil {
		return nil, err
	}
	p := &httpPrepared{c: c, x: x, op: "infer " + quoteModel(req.Model, req.Version), spec: checked.outputSpec(), checked: checked}
	if c.prefix != "" {
		p.noPath = noSuchPath(http.MethodPost, c.prefix+path)
	}
	return p, nil
}

// prepareInfer prepares the POST of an infer body.
func (c *HTTPClient) prepareInfer(model, path string, body []byte, headerLen int) (httpExchange, error) {
	h := c.headers.Clone()
	if headerLen >= 0 {
		h.Set("Content-Type", "application/octet-stream")
		h.Set(headerInferLen, strconv.Itoa(headerLen))
	} else {
		h.Set("Content-Type", "application/json")
	}
	x, err := c.t.prepare(http.MethodPost, c.base+path, h, body, true)
	if err != nil {
		return nil, fmt.Errorf("prepare request for model %q: %w", model, err)
	}
	return x, nil
}

// httpSeqTemplate is a request with room for sequence parameters (see
// withSeqWindow): the body's window is body[win:win+jsonSeqWindow].
type httpSeqTemplate struct {
	x     httpExchange
	win   int
	after bool // other parameters precede the window
	err   error
}

// seqTemplate makes the request's sequence template on first use: most
// requests are never sent with a sequence.
func (p *httpPrepared) seqTemplate() *httpSeqTemplate {
	p.seqOnce.Do(func() {
		t := &httpSeqTemplate{}
		p.seq = t
		c := p.c
		body, headerLen, win, after, err := encodeHTTPSeqRequest(p.checked, c.binaryIn, c.binaryOut)
		if err == nil {
			t.x, err = c.prepareInfer(p.checked.Model, modelPath(p.checked.Model, p.checked.Version)+"/infer", body, headerLen)
		}
		if err != nil {
			t.err = &Error{Op: p.op, Kind: ErrBadRequest, Class: "client", Message: "cannot add the sequence parameters: " + err.Error(), Err: err}
			return
		}
		t.win, t.after = win, after
	})
	return p.seq
}

// NewCall is Prepare and Prepared.NewCall.
func (c *HTTPClient) NewCall(req *InferRequest) (Call, error) {
	p, err := c.Prepare(req)
	if err != nil {
		return nil, err
	}
	return p.NewCall()
}

// httpPrepared is an encoded request; x is never sent itself, only forked.
type httpPrepared struct {
	c    *HTTPClient
	x    httpExchange
	op   string
	spec *outputSpec
	// noPath is the message for a 404 without a v2 error body when the
	// URL has a path prefix (which may be wrong); "" without a prefix.
	noPath string
	// checked is kept to build seq, the request with room for sequence
	// parameters, when a Call first needs it.
	checked *checkedRequest
	seqOnce sync.Once
	seq     *httpSeqTemplate
}

var _ Prepared = (*httpPrepared)(nil)

// NewCall forks the exchange: the Call shares the wire bytes and has its
// own connection, response buffer and check scratch.
func (p *httpPrepared) NewCall() (Call, error) {
	call := &httpCall{x: p.x.fork(), timeout: p.c.timeout, p: p, check: p.spec.newCheck()}
	return call, nil
}

type httpCall struct {
	x       httpExchange
	timeout time.Duration
	// p is the request being sent: the one the Call was made from, or
	// another of the same client that a Cycle loaded.
	p     *httpPrepared
	check *outputCheck
	// buf is the response read buffer, reused; last is the latest
	// successful response (within buf), nil after a failure.
	buf       []byte
	last      []byte
	headerLen int
	// seq is the sequence the requests carry (none when seq.ID is 0); the
	// exchange then sends a private copy of p's sequence template whose
	// window is win. seqErr is why the template could not be made.
	seq    Sequence
	win    []byte
	seqErr error
}

var (
	_ switchCall = (*httpCall)(nil)
	_ Sequencer  = (*httpCall)(nil)
	_ Connector  = (*httpCall)(nil)
)

// SetSequence makes the following requests carry s (none when s.ID is 0).
func (c *httpCall) SetSequence(s Sequence) {
	c.seq = s
	c.applySeq(false)
}

// applySeq puts the Call's sequence into the request it sends. A new copy
// of the template is taken when the request changed or fresh asks for it.
func (c *httpCall) applySeq(fresh bool) {
	c.seqErr = nil
	if c.seq.ID == 0 {
		if c.win != nil {
			c.x.load(c.p.x)
			c.win = nil
		}
		return
	}
	t := c.p.seqTemplate()
	if t.err != nil {
		c.seqErr = t.err
		return
	}
	if c.win == nil || fresh {
		c.win = c.x.own(t.x, fresh)[t.win : t.win+jsonSeqWindow]
	}
	writeJSONSeq(c.win, c.seq, t.after)
}

// canLoad reports whether p is a request of the Call's client.
func (c *httpCall) canLoad(p Prepared) bool {
	hp, ok := p.(*httpPrepared)
	return ok && hp.c == c.p.c
}

// load makes the Call send p, which canLoad accepted, from now on.
func (c *httpCall) load(p Prepared) {
	hp := p.(*httpPrepared)
	if hp == c.p {
		return
	}
	c.p = hp
	c.x.load(hp.x)
	c.check.use(hp.spec)
	if c.seq.ID != 0 {
		c.win = nil
		c.applySeq(false)
	}
}

// deadline is the request timeout from now; zero without one.
func (c *httpCall) deadline(now time.Time) time.Time {
	if c.timeout <= 0 {
		return time.Time{}
	}
	return now.Add(c.timeout)
}

// Connect opens the Call's connection ahead of its first request
// (fasthttp; net/http dials on demand).
func (c *httpCall) Connect(ctx context.Context) error {
	if err := c.x.connect(ctx, c.deadline(time.Now())); err != nil {
		return transportError(ctx, c.p.op, err)
	}
	return nil
}

// Do sends the prepared body and reads the whole response into a reused
// buffer. The response is checked (status, framing, outputs, sizes) but
// not decoded.
func (c *httpCall) Do(ctx context.Context) (Timing, error) {
	c.last = nil
	if c.seqErr != nil {
		return Timing{}, c.seqErr
	}
	start := time.Now()
	// The timeout is a deadline, not a context: the transport applies it
	// without a timer and a context per request.
	res, err := c.x.do(ctx, c.deadline(start), c.buf)
	total := time.Since(start)
	if res.body != nil {
		c.buf = res.body[:0]
	}
	t := Timing{Total: total}
	if (err != nil || res.status != http.StatusOK) && c.win != nil {
		// The transport may still be reading the body it was given.
		c.applySeq(true)
	}
	if err != nil {
		return t, transportError(ctx, c.p.op, err)
	}
	t.Send = res.sent
	if t.Send == 0 || t.Send > res.headers {
		t.Send = res.headers
	}
	t.Recv = total - res.headers
	if res.status != http.StatusOK {
		e := httpStatusError(c.p.op, res.status, res.body, false)
		if c.p.noPath != "" {
			pathNotFound(e, res, c.p.noPath)
		}
		return t, e
	}
	if err := c.check.checkHTTP(res.body, res.headerLen); err != nil {
		return t, checkError(c.p.op, err, nil)
	}
	c.last, c.headerLen = res.body, res.headerLen
	return t, nil
}

// Response decodes the latest response.
func (c *httpCall) Response() (*InferResponse, error) {
	if c.last == nil {
		return nil, fmt.Errorf("%s: no response: call Do first (or the last Do failed)", c.p.op)
	}
	// Copy: the next Do reuses the buffer the tensors would point into.
	r, err := decodeHTTPResponse(bytes.Clone(c.last), c.headerLen)
	if err != nil {
		return nil, protocolError(c.p.op, err.Error(), nil)
	}
	return r, nil
}
