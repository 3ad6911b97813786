package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// byteSize is a flag value in bytes, written as a whole number with an
// optional unit: B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers
// of 1000), in any case. Fractions are refused rather than rounded, and a
// value that does not fit in an int64 is refused rather than wrapped.
type byteSize int64

var _ pflag.Value = (*byteSize)(nil)

// sizeUnits are tried in order, so that "KiB" is matched before "B"; the
// binary ones come first, largest last, for String.
var sizeUnits = []struct {
	name  string
	bytes int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"B", 1},
}

func (s *byteSize) Set(value string) error {
	v, err := parseByteSize(value)
	if err != nil {
		return err
	}
	*s = byteSize(v)
	return nil
}

func (s *byteSize) Type() string { return "SIZE" }

// String prints the largest binary unit that divides the size exactly, so
// that the default shows as 64MiB.
func (s *byteSize) String() string {
	v := int64(*s)
	for i := 2; i >= 0; i-- {
		if u := sizeUnits[i]; v != 0 && v%u.bytes == 0 {
			return strconv.FormatInt(v/u.bytes, 10) + u.name
		}
	}
	return strconv.FormatInt(v, 10)
}

func parseByteSize(value string) (int64, error) {
	num, mult := strings.TrimSpace(value), int64(1)
	for _, u := range sizeUnits {
		if cut := len(num) - len(u.name); cut >= 0 && strings.EqualFold(num[cut:], u.name) {
			num, mult = strings.TrimSpace(num[:cut]), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a whole number of bytes, optionally with KiB, MiB, GiB, KB, MB or GB, e.g. 64MiB")
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("too large: at most %d bytes", int64(math.MaxInt64))
	}
	return n * mult, nil
}
