package export

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// The Writer's goroutine must end with Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
