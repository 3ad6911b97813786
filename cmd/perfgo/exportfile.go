package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/perfgo/perfgo/pkg/export"
	"github.com/perfgo/perfgo/pkg/inputs"
)

// exportFile is --profile-export-file: created before the first request
// (an existing file is refused, as perf_analyzer refuses it), written by
// an export.Writer while the run goes, and closed as valid JSON on every
// way out, with everything recorded so far.
type exportFile struct {
	path string
	f    *os.File
	w    *export.Writer // nil until the run starts
	// skipped are the datatypes left out of the export (FP16, BF16).
	skipped []string
	closed  bool
}

func openExport(path string) (*exportFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil, usagef("--profile-export-file %s: the file exists and an export is never overwritten (as in perf_analyzer); remove it or give a new path", path)
	}
	if err != nil {
		return nil, usagef("--profile-export-file %s: cannot create the export there (%v); give a path in a writable directory", path, unwrapPath(err))
	}
	return &exportFile{path: path, f: f}, nil
}

// start begins the export of a run that sends these requests (by the
// index the workers' Cycles give them).
func (x *exportFile) start(reqs []inputs.Request) *export.Writer {
	ins := make([][]byte, len(reqs))
	for i, r := range reqs {
		var skipped []string
		ins[i], skipped = export.Inputs(r.Inputs)
		x.skip(skipped)
	}
	x.w = export.NewWriter(x.f, export.Options{Version: exportVersion(), Inputs: ins})
	return x.w
}

// exportVersion is the export's "version".
func exportVersion() string {
	version, _ := moduleVersion()
	return "perfgo " + version
}

func (x *exportFile) skip(dts []string) {
	for _, dt := range dts {
		if !slices.Contains(x.skipped, dt) {
			x.skipped = append(x.skipped, dt)
		}
	}
}

// close ends the document (an empty export when the run never started)
// and closes the file. Only after every request of the run has returned.
func (x *exportFile) close() error {
	if x.closed {
		return nil
	}
	x.closed = true
	if x.w == nil {
		x.w = export.NewWriter(x.f, export.Options{Version: exportVersion()})
	}
	err := x.w.Close()
	x.skip(x.w.Skipped())
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the profile export %s (--profile-export-file): %w", x.path, err)
	}
	return nil
}

// warning is the one line about the tensors left out, "" when none was.
func (x *exportFile) warning() string {
	if len(x.skipped) == 0 {
		return ""
	}
	return fmt.Sprintf("the profile export leaves out the %s tensors (as perf_analyzer does: the format has no form for them)", strings.Join(x.skipped, " and "))
}

// exportRequests lists the requests the workers cycle through, in the
// order of their prepared requests.
func (t *target) exportRequests() []inputs.Request {
	if len(t.requests) == 0 {
		return []inputs.Request{{Inputs: t.tensors}}
	}
	return t.requests
}
