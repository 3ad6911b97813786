package server

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// headerLength is Triton's binary tensor extension header.
const headerLength = "Inference-Header-Content-Length"

// httpFrontend serves the v2 HTTP/REST protocol over the core.
type httpFrontend struct {
	core    *core
	meta    *serverMeta
	maxBody int64
	// exchanges holds *httpExchange for reuse.
	exchanges sync.Pool
	headers   headerCache
	mux       *http.ServeMux
	// Header values shared by every response; net/http only reads them.
	jsonType, octetType, eventType []string
}

func newHTTPFrontend(c *core, meta *serverMeta, maxBody int64) *httpFrontend {
	h := &httpFrontend{core: c, meta: meta, maxBody: maxBody,
		jsonType: []string{"application/json"}, octetType: []string{"application/octet-stream"},
		eventType: []string{"text/event-stream; charset=utf-8"}}
	h.exchanges.New = func() any { return &httpExchange{body: make([]byte, 0, 16<<10)} }
	h.headers.max = maxCachedHeaders
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /v2/health/ready", h.ready)
	mux.HandleFunc("GET /v2", h.serverMetadata)
	for _, base := range []string{"/v2/models/{model}", "/v2/models/{model}/versions/{version}"} {
		mux.HandleFunc("GET "+base, h.modelMetadata)
		mux.HandleFunc("GET "+base+"/ready", h.modelReady)
		mux.HandleFunc("GET "+base+"/config", h.modelConfig)
		mux.HandleFunc("GET "+base+"/stats", h.modelStats)
		mux.HandleFunc("POST "+base+"/infer", h.infer)
		mux.HandleFunc("POST "+base+"/generate", h.generate)
		mux.HandleFunc("POST "+base+"/generate_stream", h.generateStream)
		mux.HandleFunc(base+"/trace/setting", h.unsupported("the trace extension"))
	}
	mux.HandleFunc("GET /v2/models/stats", h.modelStats)
	mux.HandleFunc("POST /v2/repository/index", h.repositoryIndex)
	mux.HandleFunc("POST /v2/repository/models/{model}/load", h.unsupported("model loading (the models are built in)"))
	mux.HandleFunc("POST /v2/repository/models/{model}/unload", h.unsupported("model unloading (the models are built in)"))
	h.routeSHM(mux)
	mux.HandleFunc("/v2/cudasharedmemory/", h.unsupported("CUDA shared memory"))
	mux.HandleFunc("/v2/trace/setting", h.unsupported("the trace extension"))
	mux.HandleFunc("/v2/logging", h.unsupported("the logging extension"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(kindNotFound, "no endpoint %s %s; see the v2 protocol (GET /v2, /v2/models/{model}, POST /v2/models/{model}/infer, ...)", r.Method, r.URL.Path))
	})
	h.mux = mux
	return h
}

func (h *httpFrontend) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *httpFrontend) ready(w http.ResponseWriter, _ *http.Request) {
	if h.core.ready.Load() {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

func (h *httpFrontend) serverMetadata(w http.ResponseWriter, _ *http.Request) {
	writeProto(w, h.meta.proto())
}

func (h *httpFrontend) modelMetadata(w http.ResponseWriter, r *http.Request) {
	m, err := h.core.lookup(r.PathValue("model"), r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeProto(w, m.metadata)
}

func (h *httpFrontend) modelReady(w http.ResponseWriter, r *http.Request) {
	ok, err := h.core.modelReady(r.PathValue("model"), r.PathValue("version"))
	switch {
	case err != nil:
		writeError(w, err)
	case ok:
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

func (h *httpFrontend) modelConfig(w http.ResponseWriter, r *http.Request) {
	if h.meta.noConfig {
		// What a server without the endpoint answers (KServe's: its
		// router's 404), so that clients see the extension missing.
		http.NotFound(w, r)
		return
	}
	m, err := h.core.lookup(r.PathValue("model"), r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeProto(w, m.config)
}

func (h *httpFrontend) modelStats(w http.ResponseWriter, r *http.Request) {
	st, err := h.core.statistics(r.PathValue("model"), r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeProto(w, st)
}

// repositoryIndex answers with a bare JSON array, as Triton does.
func (h *httpFrontend) repositoryIndex(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Ready bool `json:"ready"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err == nil && len(data) > 0 {
		err = json.Unmarshal(data, &body)
	}
	if err != nil {
		writeError(w, errorf(kindInvalid, "malformed repository index request: %v; send {} or {\"ready\":true}", err))
		return
	}
	idx := h.core.repositoryIndex()
	out := []byte{'['}
	for i, m := range idx.Models {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendProtoJSON(out, m.ProtoReflect())
	}
	out = append(out, ']')
	writeJSON(w, http.StatusOK, out)
}

func (h *httpFrontend) unsupported(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errorf(kindUnsupported, "perfgo serve does not implement %s", what))
	}
}

// httpExchange is one inference call's working set: the decoded request,
// its response, the body and the response header buffer. Exchanges are
// pooled so that a call allocates only what net/http and JSON decoding do.
type httpExchange struct {
	req  request
	res  response
	in   [4]tensor
	body []byte
	hdr  []byte
}

// maxPooledBody keeps one huge request from pinning its buffer in the pool.
const maxPooledBody = 1 << 20

func (h *httpFrontend) release(ex *httpExchange) {
	ex.req, ex.res = request{}, response{}
	clear(ex.in[:])
	if cap(ex.body) > maxPooledBody {
		ex.body = nil
	}
	h.exchanges.Put(ex)
}

// open starts an inference call on a pooled exchange (release it): the
// model named by the path is looked up and then the body read, so that an
// unknown model is reported before anything wrong with the request, and a
// body that cannot be read counts as a failure of the model.
func (h *httpFrontend) open(hr *http.Request) (*httpExchange, *model, error) {
	ex := h.exchanges.Get().(*httpExchange)
	req := &ex.req
	*req = request{received: time.Now(), modelName: hr.PathValue("model"), version: hr.PathValue("version"), inputs: ex.in[:0]}
	m, err := h.core.lookup(req.modelName, req.version)
	if err != nil {
		return ex, nil, err
	}
	ex.body, err = readBody(hr, ex.body[:0], h.maxBody)
	if err != nil {
		return ex, m, h.core.fail(m, req, err)
	}
	return ex, m, nil
}

// infer handles POST .../infer in JSON or with binary tensor data.
func (h *httpFrontend) infer(w http.ResponseWriter, hr *http.Request) {
	ex, m, err := h.open(hr)
	defer h.release(ex)
	req := &ex.req
	if err == nil && m.decoupled {
		err = errDecoupledHTTP()
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if err := h.decode(hr, ex.body, req); err != nil {
		// A request the front end could not decode still counts as a
		// failure of the model it names.
		writeError(w, h.core.fail(m, req, err))
		return
	}
	if err := h.core.infer(hr.Context(), req, &ex.res); err != nil {
		writeError(w, err)
		return
	}
	ex.hdr = h.writeResponse(w, req, &ex.res, ex.hdr[:0])
}

// decode turns the body into req: JSON, JSON + binary, or (header length 0)
// the raw bytes of the model's single input.
func (h *httpFrontend) decode(hr *http.Request, body []byte, req *request) error {
	return h.decodeBody(hr.Header.Get(headerLength), body, req)
}

// decodeBody is decode given the Inference-Header-Content-Length value.
func (h *httpFrontend) decodeBody(hl string, body []byte, req *request) error {
	if hl == "0" {
		return h.decodeRaw(body, req)
	}
	hdr, bin, err := splitBinary(body, hl)
	if err != nil {
		return err
	}
	req.jsonHeader = hdr
	if hl != "" && h.headers.apply(hdr, bin, req) {
		return nil
	}
	if err := decodeJSONRequest(hdr, bin, req); err != nil {
		return err
	}
	if hl != "" {
		h.headers.add(hdr, req)
	}
	return nil
}

// decodeRaw handles Triton's raw binary request: the whole body is the one
// input of a single-input model (batch 1); outputs come back binary.
func (h *httpFrontend) decodeRaw(body []byte, req *request) error {
	m, err := h.core.lookup(req.modelName, req.version)
	if err != nil {
		return err
	}
	if len(m.inputs) != 1 {
		return errorf(kindInvalid, "a raw binary request (Inference-Header-Content-Length: 0) needs a model with one input; %q has %d", m.name, len(m.inputs))
	}
	spec := &m.inputs[0]
	shape := m.fullShape(spec.dims)
	shape = append([]int64(nil), shape...)
	if m.maxBatch > 0 {
		shape[0] = 1
	}
	variable, known := -1, int64(1)
	for i, d := range shape {
		if d >= 0 {
			known *= d
			continue
		}
		if variable >= 0 {
			return errorf(kindInvalid, "a raw binary request cannot give model %q's input shape %v (more than one variable dimension); send a JSON header", m.name, shape)
		}
		variable = i
	}
	if variable >= 0 {
		var n int64
		if spec.dt == datatype.Bytes {
			// Whole elements only: a malformed tail fails validation.
			whole, _ := datatype.BytesElements(body)
			n = int64(whole)
		} else {
			n = int64(len(body) / spec.dt.Size())
		}
		if known == 0 {
			return errorf(kindInvalid, "a raw binary request cannot give model %q's input shape %v; send a JSON header", m.name, shape)
		}
		shape[variable] = n / known
	}
	req.inputs = []tensor{{name: spec.name, dt: spec.dt, shape: shape, data: body}}
	req.binaryOutputs = true
	return nil
}

// writeResponse encodes res; hdr is scratch space for the JSON header,
// returned for reuse.
func (h *httpFrontend) writeResponse(w http.ResponseWriter, req *request, res *response, hdr []byte) []byte {
	hdr = append(hdr, `{"model_name":`...)
	hdr = datatype.AppendJSONString(hdr, req.modelName)
	hdr = append(hdr, `,"model_version":"`+modelVersion+`"`...)
	if req.id != "" {
		hdr = append(hdr, `,"id":`...)
		hdr = datatype.AppendJSONString(hdr, req.id)
	}
	hdr = append(hdr, `,"outputs":[`...)
	binSize := 0
	for i := range res.outputs {
		t := &res.outputs[i]
		if i > 0 {
			hdr = append(hdr, ',')
		}
		hdr = append(hdr, `{"name":`...)
		hdr = datatype.AppendJSONString(hdr, t.name)
		hdr = append(hdr, `,"datatype":"`...)
		hdr = append(hdr, t.dt.String()...)
		hdr = append(hdr, `","shape":`...)
		hdr = appendShape(hdr, t.shape)
		if t.shm != nil {
			hdr = append(appendSHMParams(hdr, t.shm), '}')
			continue
		}
		if wantBinary(req, t.name) {
			hdr = append(hdr, `,"parameters":{"binary_data_size":`...)
			hdr = strconv.AppendInt(hdr, int64(len(t.data)), 10)
			hdr = append(hdr, "}}"...)
			binSize += len(t.data)
			continue
		}
		hdr = append(hdr, `,"data":`...)
		hdr = datatype.AppendJSONLenient(hdr, t.dt, t.data)
		hdr = append(hdr, '}')
	}
	hdr = append(hdr, ']')
	if res.echoParams {
		hdr = appendEchoedParams(hdr, req.jsonHeader)
	}
	hdr = append(hdr, '}')
	wh := w.Header()
	if binSize == 0 {
		wh["Content-Type"] = h.jsonType
		wh["Content-Length"] = []string{strconv.Itoa(len(hdr))}
		_, _ = w.Write(hdr)
		return hdr
	}
	wh["Content-Type"] = h.octetType
	wh[headerLength] = []string{strconv.Itoa(len(hdr))}
	wh["Content-Length"] = []string{strconv.Itoa(len(hdr) + binSize)}
	_, _ = w.Write(hdr)
	for i := range res.outputs {
		if t := &res.outputs[i]; t.shm == nil && wantBinary(req, t.name) {
			_, _ = w.Write(t.data)
		}
	}
	return hdr
}

// wantBinary applies the output's binary_data parameter, else the
// request-level binary_data_output.
func wantBinary(req *request, name string) bool {
	for i := range req.outputs {
		if req.outputs[i].name == name && req.outputs[i].binary >= 0 {
			return req.outputs[i].binary == 1
		}
	}
	return req.binaryOutputs
}

// readBody reads the request body into buf (grown as needed), refusing
// bodies over limit. gzip and deflate bodies (Content-Encoding) are
// decompressed, as Triton does; the limit applies to the decompressed size.
func readBody(r *http.Request, buf []byte, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return buf, errorf(kindInvalid, "request body is %d bytes, over the server's limit of %d; send less data per request", r.ContentLength, limit)
	}
	var body io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength {
			buf = make([]byte, 0, r.ContentLength)
		}
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return buf, errorf(kindInvalid, "Content-Encoding is gzip but the body is not: %v", err)
		}
		body = zr
	case "deflate":
		zr, err := zlib.NewReader(r.Body)
		if err != nil {
			return buf, errorf(kindInvalid, "Content-Encoding is deflate but the body is not zlib data: %v", err)
		}
		body = zr
	default:
		return buf, errorf(kindInvalid, "Content-Encoding %q is not supported; use gzip, deflate or none", enc)
	}
	rd := io.LimitReader(body, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errorf(kindInvalid, "request body is over the server's limit of %d bytes; send less data per request", limit)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, errorf(kindInvalid, "reading the request body: %v", err)
		}
	}
}

func writeProto(w http.ResponseWriter, m proto.Message) {
	writeJSON(w, http.StatusOK, appendProtoJSON(nil, m.ProtoReflect()))
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// writeError sends {"error": msg} with the status for the error's kind.
func writeError(w http.ResponseWriter, err error) {
	body := datatype.AppendJSONString([]byte(`{"error":`), err.Error())
	writeJSON(w, httpStatus(kindOf(err)), append(body, '}'))
}

func httpStatus(k errKind) int {
	switch k {
	case kindInvalid, kindExists:
		return http.StatusBadRequest
	case kindNotFound:
		return http.StatusNotFound
	case kindUnavailable:
		return http.StatusServiceUnavailable
	case kindUnsupported:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// appendEchoedParams appends `,"parameters":{...}` with the request-level
// parameters of the JSON header hdr, less binary_data_output (the front
// end's own), or nothing when none is left. The header is decoded again
// only when its first parameters object is not one perfgo's client
// usually sends, so that load on an echoing model does not pay for it.
func appendEchoedParams(dst, hdr []byte) []byte {
	const key = `"parameters":`
	i := bytes.Index(hdr, []byte(key))
	if i < 0 {
		return dst
	}
	// perfgo's usual top-level parameters, or (no top-level ones, JSON
	// outputs) its first input's.
	if rest := hdr[i+len(key):]; bytes.HasPrefix(rest, []byte(`{"binary_data_output":true}`)) || bytes.HasPrefix(rest, []byte(`{"binary_data_size":`)) {
		return dst
	}
	var top struct {
		Parameters map[string]json.RawMessage `json:"parameters"`
	}
	if json.Unmarshal(hdr, &top) != nil {
		return dst
	}
	delete(top.Parameters, "binary_data_output")
	if len(top.Parameters) == 0 {
		return dst
	}
	dst = append(dst, `,"parameters":{`...)
	for i, k := range slices.Sorted(maps.Keys(top.Parameters)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = datatype.AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = append(dst, top.Parameters[k]...)
	}
	return append(dst, '}')
}
