//go:build race

package store

// raceEnabled: see storeRelaxed.
const raceEnabled = true
