package main

import (
	"slices"
	"strings"
	"testing"
)

// TestCompletion: cobra's completion command is there, in the help, and
// its scripts complete perfgo's flags and their values.
func TestCompletion(t *testing.T) {
	code, stdout, _ := perfgo(t, t.Context(), "--help")
	if code != 0 || !strings.Contains(stdout, "\n  completion ") {
		t.Errorf("exit %d; the help lists no completion command:\n%s", code, stdout)
	}
	for _, tc := range []struct {
		shell string
		want  []string
	}{
		{"bash", []string{"complete -o default -F __start_perfgo perfgo", "__complete"}},
		{"zsh", []string{"#compdef perfgo", "__complete"}},
		{"fish", []string{"complete -c perfgo", "__complete"}},
	} {
		code, stdout, stderr := perfgo(t, t.Context(), "completion", tc.shell)
		if code != 0 {
			t.Errorf("completion %s: exit %d: %s", tc.shell, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("completion %s: the script lacks %q", tc.shell, w)
			}
		}
	}
	// What the scripts run on <Tab>: flag names, then a flag's values.
	_, stdout, _ = perfgo(t, t.Context(), "__complete", "--concurrency")
	if !strings.Contains(stdout, "--concurrency-range\t") {
		t.Errorf("--concurrency<Tab> offers no --concurrency-range:\n%s", stdout)
	}
	for flag, values := range flagChoices() {
		_, stdout, _ := perfgo(t, t.Context(), "__complete", "--"+flag, "")
		got := strings.Split(stdout, "\n")
		for _, v := range values {
			if !slices.Contains(got, v) {
				t.Errorf("--%s <Tab> offers %q; want %v", flag, got, values)
			}
		}
	}
}
