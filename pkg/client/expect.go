package client

import "errors"

// outputSpec builds what every response to the request must carry.
func (c *checkedRequest) outputSpec() *outputSpec {
	return newOutputSpec(c.Outputs)
}

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
