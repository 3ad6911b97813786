package client

// OutputKeeper is a Call that can hand the outputs of every response of
// its latest Do to a recorder (the profile export). KeepOutputs(true)
// makes each following Do copy each response's raw bytes as it arrives:
// a memory copy, no decoding, so the response times stay the transport's.
// Outputs decodes them, which allocates: call it after Do, outside the
// measured time. Off (the default) it costs nothing.
//
// Cycle's Call implements it for every Call of perfgo's clients: stream
// Calls keep every response; one-response Calls decode their latest
// response (Response), which they keep anyway.
type OutputKeeper interface {
	KeepOutputs(on bool)
	// Outputs calls fn with the outputs of each response of the latest
	// Do, in order, when it succeeded; the tensors are valid during fn only.
	Outputs(fn func(outputs []Tensor)) error
}

// keptResponses are the raw responses of a stream Call's latest Do, back
// to back in one reused buffer.
type keptResponses struct {
	on   bool
	buf  []byte
	ends []int
}

func (k *keptResponses) reset() { k.buf, k.ends = k.buf[:0], k.ends[:0] }

// add copies one response's bytes, when keeping.
func (k *keptResponses) add(b []byte) {
	if k.on {
		k.buf = append(k.buf, b...)
		k.ends = append(k.ends, len(k.buf))
	}
}

// each decodes every kept response and hands its outputs to fn.
func (k *keptResponses) each(decode func([]byte) (*InferResponse, error), fn func([]Tensor)) error {
	start := 0
	for _, end := range k.ends {
		r, err := decode(k.buf[start:end])
		if err != nil {
			return err
		}
		fn(r.Outputs)
		start = end
	}
	return nil
}
