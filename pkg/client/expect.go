package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/perfgo/perfgo/pkg/datatype"
	"github.com/perfgo/perfgo/pkg/inferencepb"
	"google.golang.org/protobuf/proto"
)

// Validation compares the outputs of every response with the request's
// Expected ones. The spec (outputSpec.want) is built once at Prepare and
// shared; where each output lies in the response being checked is
// per-Call scratch (outputCheck.loc), so that binary outputs are compared
// where they lie, without allocating.

// checkExpected validates the expected outputs of req.
func checkExpected(req *InferRequest) error {
	seen := make(map[string]bool, len(req.Expected))
	for i := range req.Expected {
		t := &req.Expected[i]
		if err := CheckTensor(t); err != nil {
			return fmt.Errorf("expected output %d: %w", i, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("expected output %q appears twice", t.Name)
		}
		seen[t.Name] = true
		if len(req.Outputs) > 0 && !slices.Contains(req.Outputs, t.Name) {
			return fmt.Errorf("expected output %q is not among the requested outputs %q", t.Name, req.Outputs)
		}
	}
	return nil
}

// outputSpec builds what every response to the request must carry: the
// requested outputs, then the expected ones not requested by name.
func (c *checkedRequest) outputSpec() *outputSpec {
	s := newOutputSpec(c.Outputs)
	if len(c.Expected) == 0 {
		return s
	}
	s.names = slices.Clone(c.Outputs)
	s.want = make([]*Tensor, len(s.names))
	for i := range c.Expected {
		t := &c.Expected[i]
		if j := slices.Index(s.names, t.Name); j >= 0 {
			s.want[j] = t
			continue
		}
		s.names = append(s.names, t.Name)
		s.want = append(s.want, t)
	}
	return s
}

// outputLoc is where a named output's contents lie in an HTTP response.
type outputLoc struct {
	// at and size locate the binary data; size is locJSON when the output
	// came as JSON "data", locNone when it carried neither (shared memory).
	at, size int64
}

const (
	locJSON = -1
	locNone = -2
)

// validationError is a response that is a valid v2 answer whose outputs
// differ from the expected ones.
type validationError struct{ msg string }

func (e *validationError) Error() string { return e.msg }

// checkError classifies a failed response check: a wrong answer, or a
// response that is not a valid v2 answer. err is the transport's error.
func checkError(op string, check, err error) *Error {
	if v, ok := errors.AsType[*validationError](check); ok {
		return &Error{Op: op, Kind: ErrValidation, Class: "validation", Message: v.msg, Err: err}
	}
	return protocolError(op, check.Error(), err)
}

// compareOutput reports whether got equals the expected w, byte for byte,
// and otherwise names the output and its first differing element.
func compareOutput(w *Tensor, got []byte) error {
	if bytes.Equal(got, w.Data) {
		return nil
	}
	i := 0
	for i < len(got) && i < len(w.Data) && got[i] == w.Data[i] {
		i++
	}
	e := elementAt(w, i)
	if len(got) != len(w.Data) {
		return &validationError{fmt.Sprintf("output %q has %d bytes, expected %d: first difference at element %d", w.Name, len(got), len(w.Data), e)}
	}
	return &validationError{fmt.Sprintf("output %q differs from the expected at element %d", w.Name, e)}
}

// elementAt is the index of the element of w holding byte i (one past the
// last element for a byte beyond w's data).
func elementAt(w *Tensor, i int) int {
	dt, _ := datatype.Parse(w.Datatype) // checked at Prepare
	if dt != datatype.Bytes {
		return i / dt.Size()
	}
	e, pos := 0, 0
	for pos+4 <= len(w.Data) {
		end := pos + 4 + int(binary.LittleEndian.Uint32(w.Data[pos:]))
		if i < end {
			break
		}
		pos = end
		e++
	}
	return e
}

// compareHTTP compares the expected outputs of a response checkHTTP
// accepted: binary ones in place, JSON ones after decoding the response.
func (c *outputCheck) compareHTTP(body []byte, headerLen int, bin []byte) error {
	var decoded *InferResponse
	for i, w := range c.want {
		if w == nil {
			continue
		}
		var got []byte
		switch l := c.loc[i]; l.size {
		case locNone:
			return &validationError{fmt.Sprintf("output %q carries no data (shared memory?) to compare with the expected", w.Name)}
		case locJSON:
			if decoded == nil {
				var err error
				if decoded, err = decodeHTTPResponse(body, headerLen); err != nil {
					return err
				}
			}
			got = outputData(decoded, w.Name)
		default:
			got = bin[l.at : l.at+l.size]
		}
		if err := compareOutput(w, got); err != nil {
			return err
		}
	}
	return nil
}

// comparePBContents compares the expected outputs of a gRPC response
// whose outputs are in contents fields, after decoding it.
func (c *outputCheck) comparePBContents(b []byte) error {
	var pb inferencepb.ModelInferResponse
	if err := proto.Unmarshal(b, &pb); err != nil {
		return fmt.Errorf("cannot decode the response: %w", err)
	}
	r, err := fromPBResponse(&pb)
	if err != nil {
		return err
	}
	for _, w := range c.want {
		if w != nil {
			if err := compareOutput(w, outputData(r, w.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// outputData is the data of r's first output named name.
func outputData(r *InferResponse, name string) []byte {
	for _, o := range r.Outputs {
		if o.Name == name {
			return o.Data
		}
	}
	return nil
}
