package main

import (
	"flag"
	"fmt"

	"github.com/edgekit/edgekit/resolver"
)

// ecsFlags registers the EDNS Client Subnet flags on fs and returns the
// resolver.ECSConfig they make (after fs.Parse):
//
//	-ecs-zone cdn.example.   send clients' subnets for names in this zone (repeatable)
//	-ecs-v4 24 -ecs-v6 56    the longest prefixes sent (RFC 7871 §11.1's defaults)
//
// Without -ecs-zone no subnet is sent anywhere.
func ecsFlags(fs *flag.FlagSet) func() (resolver.ECSConfig, error) {
	var zones listFlag
	fs.Var(&zones, "ecs-zone", "send the client's subnet (EDNS Client Subnet, RFC 7871) for names in this zone; answers are cached per scope (repeatable; default none)")
	v4 := fs.Int("ecs-v4", 24, "longest IPv4 client prefix sent with -ecs-zone (1-32)")
	v6 := fs.Int("ecs-v6", 56, "longest IPv6 client prefix sent with -ecs-zone (1-128)")
	return func() (resolver.ECSConfig, error) {
		// resolver.ECSConfig takes 0 for its default (24, 56): a 0 given
		// here, meant as "send no address", must not become /24.
		if *v4 < 1 || *v4 > 32 || *v6 < 1 || *v6 > 128 {
			return resolver.ECSConfig{}, fmt.Errorf("-ecs-v4 %d, -ecs-v6 %d: must be 1-32 and 1-128 (to send no subnet, leave out -ecs-zone)", *v4, *v6)
		}
		return resolver.ECSConfig{Zones: zones, IPv4Prefix: *v4, IPv6Prefix: *v6}, nil
	}
}
