//go:build !amd64 || race

package store

// inPlace: see inplace_amd64.go.
const inPlace = false
