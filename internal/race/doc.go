// Package race tells whether the program was built with the race detector
// (-race). Tests use it to scale down work the detector makes slow (the
// same code path at a smaller size); no shipped code path may depend on
// it, so that what ships is what -race tests.
package race
