package loadgen

import "github.com/perfgo/perfgo/pkg/result"

// Settings returns the settings Run reports for opts, so that a caller can
// print the report header before the first level starts. Give a non-zero
// Seed for Poisson schedules, or Run will pick a different one.
func Settings(opts Options) (result.Settings, error) {
	o, err := opts.normalize()
	if err != nil {
		return result.Settings{}, err
	}
	return o.settings(), nil
}
