// Package storepeers benchmarks edgekit's store (internal/store, which its
// module path may import) beside the
// plain golang-lru/v2 Cache and otter/v2, the fastest byte-bounded Go cache,
// on the workloads of internal/store's own benchmarks. It is a module of its
// own so that otter never becomes a dependency of edgekit; run it with
// scripts/bench-store-peers.sh. Not part of `go test ./...` or CI.
package storepeers
