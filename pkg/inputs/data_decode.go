package inputs

import (
	"fmt"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// decodeArray converts raw, a JSON array (flat or nested) of values of t,
// to the binary layout, with exactly n elements (any number when n < 0).
// raw must be valid JSON.
func decodeArray(t datatype.Type, raw []byte, n int64) ([]byte, int64, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, 0, fmt.Errorf("contents must be a JSON array, got %s", clipJSON(raw))
	}
	out, count, err := datatype.DecodeJSON(t, raw, n)
	if err != nil {
		return nil, 0, fmt.Errorf("%v; fix the data or the shape", err)
	}
	return out, count, nil
}
