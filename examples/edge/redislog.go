package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// go-redis reports connection trouble through one process-wide logger,
// by default on stderr several times a second while Redis is away
// (redis.SetLogger is its only knob). The program routes it to its own
// zap logger at debug level: with -v it shows, otherwise the bus's own
// warnings say what matters (once per outage, not per dial).

// redisLog is the logger go-redis writes through; run sets it.
var redisLog atomic.Pointer[zap.Logger]

type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	if l := redisLog.Load(); l != nil {
		l.Debug("redis: " + fmt.Sprintf(format, v...))
	}
}

// quietRedis routes go-redis's log through redisLog; main calls it once.
func quietRedis() { redis.SetLogger(redisLogger{}) }
