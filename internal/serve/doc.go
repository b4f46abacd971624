// Package serve holds what every accept loop in the SDK needs: the set of
// open connections a shutdown must reach and drain, closing a listener
// when its context ends, and accepting through temporary failures.
package serve
