package inputs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/perfgo/perfgo/pkg/client"
	"github.com/perfgo/perfgo/pkg/datatype"
)

// loadDir reads perf_analyzer's data directory: one file per input, named
// after the input, holding its batch-1 contents: raw little-endian
// row-major bytes, or for BYTES one string per line (each line one element;
// a final newline ends the last line and adds none). One stream of one step.
func loadDir(m Model, dir string, o Options) (*DataSet, error) {
	ins, err := specs(m, o, m.Metadata.GetInputs(), true)
	if err != nil {
		return nil, fmt.Errorf("--input-data %s: %w", dir, err)
	}
	optional := optionalNames(m)
	var step Step
	for _, in := range m.Metadata.GetInputs() {
		name := in.GetName()
		s := ins[name]
		path := filepath.Join(dir, name)
		fail := func(format string, args ...any) error {
			return fmt.Errorf("--input-data %s: input %q (%s): %s", path, name, s.dt, fmt.Sprintf(format, args...))
		}
		if filepath.Base(name) != name || name == ".." {
			return nil, fail("the input's name cannot be a file name in a directory; use a JSON file")
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			if slices.Contains(optional, name) {
				continue
			}
			return nil, fail("no such file; add it with the input's batch-1 contents (raw little-endian bytes; BYTES: one string per line)")
		}
		if err != nil {
			return nil, fail("%v", errors.Unwrap(err))
		}
		if !s.fixed {
			return nil, fail("the shape [%s] has variable dims; give them with --shape %s:%s", FormatDims(s.dims), name, exampleDims(s.dims))
		}
		n, err := datatype.ElementCount(s.dims)
		if err != nil {
			return nil, fail("shape [%s] is too large", FormatDims(s.dims))
		}
		if s.dt == datatype.Bytes {
			if data, err = dirStrings(data, n); err != nil {
				return nil, fail("%v", err)
			}
		} else if size := int64(s.dt.Size()); int64(len(data)) != n*size {
			return nil, fail("the file has %d bytes but shape [%s] needs %d elements of %d bytes (%d bytes); fix the file or --shape", len(data), FormatDims(s.dims), n, size, n*size)
		}
		step.Inputs = append(step.Inputs, client.Tensor{Name: name, Datatype: s.dt.String(), Shape: slices.Clone(s.dims), Data: data})
	}
	return &DataSet{Streams: [][]Step{{step}}, dir: true}, nil
}

// dirStrings turns text, one string per line, into n BYTES elements.
func dirStrings(text []byte, n int64) ([]byte, error) {
	lines := int64(0)
	if len(text) > 0 {
		text = bytes.TrimSuffix(text, []byte{'\n'})
		lines = int64(bytes.Count(text, []byte{'\n'})) + 1
	}
	if lines != n {
		return nil, fmt.Errorf("the file has %d lines but the shape needs %d strings (one per line); fix the file or --shape", lines, n)
	}
	out := make([]byte, 0, int64(len(text))+3*lines+4)
	for line := range bytes.SplitSeq(text, []byte{'\n'}) {
		if lines == 0 {
			break
		}
		out = datatype.AppendBytesElement(out, line)
	}
	return out, nil
}
