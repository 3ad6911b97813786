package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print perfgo's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(cmd.OutOrStdout())
		},
	}
}

// printVersion writes perfgo's version (and commit, when built from git).
func printVersion(w io.Writer) error {
	version, revision := moduleVersion()
	_, err := fmt.Fprintf(w, "perfgo %s%s\n", version, revision)
	return err
}

// moduleVersion is perfgo's module version ("(devel)" from a checkout)
// and " (commit ...)" when built from git.
func moduleVersion() (version, revision string) {
	version = "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = " (commit " + s.Value + ")"
			}
		}
	}
	return version, revision
}
