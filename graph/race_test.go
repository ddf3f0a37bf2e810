//go:build race

package graph_test

// The race detector allocates on its own: allocation budgets are not
// asserted under it (the codes still are).
func init() { raceEnabled = true }
