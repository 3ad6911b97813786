package loadgen

// MergedWindows is how many of a level's last windows its report merges
// (the stability test's count): an observer that keeps data per window
// (the server's metrics) merges the same ones.
const MergedWindows = stabilityWindows
