module github.com/edgekit/edgekit/scripts/storepeers

go 1.26.0

require (
	github.com/edgekit/edgekit v0.0.0
	github.com/hashicorp/golang-lru/v2 v2.0.7
)

require (
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

require (
	github.com/maypok86/otter/v2 v2.4.0
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
)

replace github.com/edgekit/edgekit => ../..
