// Package race tells whether the program was built with the race detector
// (-race), for the few places that use a deliberate, benign race (a plain
// store where readers load atomically, a sequence lock) and must use
// atomic operations instead when the detector would report it.
package race
