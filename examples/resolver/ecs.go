package main

import (
	"flag"

	"github.com/edgekit/edgekit/resolver"
)

// ecsFlags registers the EDNS Client Subnet flags on fs and returns the
// resolver.ECSConfig they make (after fs.Parse):
//
//	-ecs-zone cdn.example.   send clients' subnets for names in this zone (repeatable)
//	-ecs-v4 24 -ecs-v6 56    the longest prefixes sent (RFC 7871 §11.1's defaults)
//
// Without -ecs-zone no subnet is sent anywhere.
func ecsFlags(fs *flag.FlagSet) func() resolver.ECSConfig {
	var zones listFlag
	fs.Var(&zones, "ecs-zone", "send the client's subnet (EDNS Client Subnet, RFC 7871) for names in this zone; answers are cached per scope (repeatable; default none)")
	v4 := fs.Int("ecs-v4", 24, "longest IPv4 client prefix sent with -ecs-zone (0-32)")
	v6 := fs.Int("ecs-v6", 56, "longest IPv6 client prefix sent with -ecs-zone (0-128)")
	return func() resolver.ECSConfig {
		return resolver.ECSConfig{Zones: zones, IPv4Prefix: *v4, IPv6Prefix: *v6}
	}
}
