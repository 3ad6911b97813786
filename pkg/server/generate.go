package server

import (
	"context"
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/precise"
)

// GenerateOptions configure the generate model, a stand-in for an LLM: one
// response per token, at times drawn from a distribution.
type GenerateOptions struct {
	// FirstResponse is the mean time from a request's arrival to its first
	// token; default 20ms.
	FirstResponse time.Duration
	// Gap is the mean time between two tokens; default 5ms.
	Gap time.Duration
	// Distribution of both times: "fixed" (default), "exponential",
	// "uniform" (mean ±50%) or "lognormal" (sigma 0.5), as the delay model's.
	Distribution string
	// Tokens is the number of tokens of a request without max_tokens;
	// default 16, at most MaxTokens.
	Tokens int
	// Seed seeds the generators of the times.
	Seed uint64
}

// MaxTokens bounds the tokens of one generate request (max_tokens), so that
// one request cannot hold a stream for hours.
const MaxTokens = 4096

func (g GenerateOptions) withDefaults() (GenerateOptions, error) {
	if g.FirstResponse == 0 {
		g.FirstResponse = 20 * time.Millisecond
	}
	if g.Gap == 0 {
		g.Gap = 5 * time.Millisecond
	}
	if g.Distribution == "" {
		g.Distribution = "fixed"
	}
	if g.Tokens == 0 {
		g.Tokens = 16
	}
	switch {
	case g.FirstResponse < 0:
		return g, errorf(kindInvalid, "generate time to first response is %v; it must be positive", g.FirstResponse)
	case g.Gap < 0:
		return g, errorf(kindInvalid, "generate time between responses is %v; it must be positive", g.Gap)
	case g.Tokens < 0 || g.Tokens > MaxTokens:
		return g, errorf(kindInvalid, "generate tokens per request is %d; use 1 to %d", g.Tokens, MaxTokens)
	}
	if _, err := newServiceTimes(g.Distribution, g.Gap, 0); err != nil {
		return g, errorf(kindInvalid, "generate: %v", err)
	}
	return g, nil
}

// setMaxTokens applies the max_tokens request parameter; the model checks
// the upper bound.
func setMaxTokens(r *request, n int64) error {
	if n < 1 {
		return errorf(kindInvalid, "parameter max_tokens is %d; ask for 1 to %d tokens", n, MaxTokens)
	}
	r.maxTokens = n
	return nil
}

// generateBackend is the decoupled "generate" model: text_input in, one
// text_output token ("tok1 ", "tok2 ", ...) per response, the first at
// FirstResponse after the request arrived and the next ones Gap apart.
type generateBackend struct {
	opts GenerateOptions
	// runs holds *generateRun: a timer, generators and a token buffer
	// reused from request to request.
	runs  sync.Pool
	seeds atomic.Uint64
}

// generateRun is one request's working set.
type generateRun struct {
	timer *time.Timer
	// exact wakes the run on time: Go's timer alone wakes up to a
	// millisecond late, which put the time to first response 6% over the
	// configured 20 ms (p50 21.27 ms) and spread the 5 ms gaps from 4.8
	// to 5.7 ms (p50 to p90). A run dropped by the pool closes its
	// descriptor when collected (os.File's cleanup).
	exact      *precise.Timer
	first, gap *serviceTimes
	text       []byte // BYTES tensor data
	// res and shape back each response, so that emitting one costs no
	// allocation here.
	res   response
	shape [1]int64
}

func generateModel(opts GenerateOptions) *model {
	b := &generateBackend{opts: opts}
	b.runs.New = func() any {
		seed := opts.Seed + b.seeds.Add(2)
		first, _ := newServiceTimes(opts.Distribution, opts.FirstResponse, seed) // checked by withDefaults
		gap, _ := newServiceTimes(opts.Distribution, opts.Gap, seed+1)
		t := time.NewTimer(time.Hour)
		t.Stop()
		return &generateRun{timer: t, exact: precise.New(), first: first, gap: gap, text: make([]byte, 0, 64)}
	}
	return newModel(modelSpec{
		name: "generate",
		inputs: []tensorSpec{
			{name: "text_input", dt: datatype.Bytes, dims: []int64{1}},
			{name: "max_tokens", dt: datatype.Int32, dims: []int64{1}, optional: true},
		},
		outputs:   []tensorSpec{{name: "text_output", dt: datatype.Bytes, dims: []int64{1}}},
		decoupled: true,
		parameters: map[string]string{
			"execution":          "inline; one response per token over gRPC ModelStreamInfer or HTTP generate_stream; request parameter stream=false gives one response with every token",
			"first_response_us":  strconv.FormatInt(opts.FirstResponse.Microseconds(), 10),
			"response_gap_us":    strconv.FormatInt(opts.Gap.Microseconds(), 10),
			"distribution":       opts.Distribution,
			"default_max_tokens": strconv.Itoa(opts.Tokens),
			"max_tokens_limit":   strconv.Itoa(MaxTokens),
		},
	}, nil, b)
}

// tokens is the number of tokens r asks for: the max_tokens parameter, else
// the max_tokens input, else the default.
func (b *generateBackend) tokens(r *request) (int, error) {
	n := r.maxTokens
	if in := r.input("max_tokens"); in != nil && n == 0 {
		n = int64(int32(binary.LittleEndian.Uint32(in.data)))
		if n < 1 {
			return 0, errorf(kindInvalid, "input max_tokens is %d; ask for 1 to %d tokens", n, MaxTokens)
		}
	}
	if n == 0 {
		return b.opts.Tokens, nil
	}
	if n > MaxTokens {
		return 0, errorf(kindInvalid, "max_tokens is %d; ask for 1 to %d tokens", n, MaxTokens)
	}
	return int(n), nil
}

func (b *generateBackend) stream(ctx context.Context, m *model, r *request, pt *phaseTimes, emit func(*response) error) error {
	t0 := time.Now()
	n, err := b.tokens(r)
	if err != nil {
		return err
	}
	run := b.runs.Get().(*generateRun)
	defer func() {
		run.res = response{}
		b.runs.Put(run)
	}()
	wantText := r.wantsOutput("text_output")
	t1 := time.Now()
	// Token times count from the request's arrival, as a server's time to
	// first token does.
	due := r.received.Add(run.first.next())
	run.text = run.text[:0]
	for i := range n {
		if i > 0 {
			due = due.Add(run.gap.next())
		}
		if err := run.wait(ctx, due); err != nil {
			return errorf(kindUnavailable, "generation stopped after %d of %d tokens: %v", i, n, err)
		}
		if r.oneResponse {
			run.text = appendToken(run.text, i+1)
			continue
		}
		// Each response's tensor data is used up by emit before the next
		// token overwrites it.
		run.text = append(run.text[:0], 0, 0, 0, 0)
		run.text = appendToken(run.text, i+1)
		binary.LittleEndian.PutUint32(run.text, uint32(len(run.text)-4))
		if err := run.emitText(r, wantText, i == n-1, emit); err != nil {
			return errorf(kindUnavailable, "sending token %d of %d: %v", i+1, n, err)
		}
	}
	if r.oneResponse {
		run.text = append(run.text, 0, 0, 0, 0)
		copy(run.text[4:], run.text[:len(run.text)-4])
		binary.LittleEndian.PutUint32(run.text, uint32(len(run.text)-4))
		if err := run.emitText(r, wantText, true, emit); err != nil {
			return errorf(kindUnavailable, "sending the response: %v", err)
		}
	}
	if r.enableEmptyFinal {
		run.res = response{hasFinal: true, final: true}
		if err := emit(&run.res); err != nil {
			return errorf(kindUnavailable, "sending the final empty response: %v", err)
		}
	}
	t2 := time.Now()
	pt.computeInput, pt.computeInfer = t1.Sub(t0), t2.Sub(t1)
	m.stats.recordExecution(1, pt.computeInput, pt.computeInfer, 0)
	return nil
}

// emitText sends one response holding run.text (a BYTES element).
func (run *generateRun) emitText(r *request, want, last bool, emit func(*response) error) error {
	run.res = response{hasFinal: true, final: last && !r.enableEmptyFinal}
	run.res.outputs = run.res.buf[:0]
	if want {
		run.shape[0] = 1
		run.res.outputs = append(run.res.outputs, tensor{name: "text_output", dt: datatype.Bytes, shape: run.shape[:], data: run.text})
	}
	return emit(&run.res)
}

// appendToken appends the text of token i (1-based).
func appendToken(dst []byte, i int) []byte {
	dst = append(dst, "tok"...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	return append(dst, ' ')
}

// wait returns at due, or with ctx's error if it ends first.
func (run *generateRun) wait(ctx context.Context, due time.Time) error {
	return run.exact.Until(ctx, run.timer, due)
}
