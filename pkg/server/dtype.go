package server

import (
	"fmt"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// maxElements bounds shape products before the server sizes a buffer from
// one; no request this server accepts comes near it.
const maxElements = 1 << 40

// elementCount is the product of shape, or an error for negative dims or
// absurd sizes.
func elementCount(shape []int64) (int64, error) {
	n, err := datatype.ElementCount(shape)
	if err != nil {
		return 0, err
	}
	if n > maxElements {
		return 0, fmt.Errorf("shape %v has more than %d elements; send a smaller tensor", shape, int64(maxElements))
	}
	return n, nil
}
