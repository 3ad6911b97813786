package htmlreport

import "gonum.org/v1/plot"

// LinearTicks exposes the linear axes' ticks to the tests.
func LinearTicks(lo, hi float64) []plot.Tick { return linearTicks{}.Ticks(lo, hi) }
