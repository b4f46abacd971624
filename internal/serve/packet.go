package serve

import (
	"context"
	"net"
	"sync"
	"time"
)

// ReadLoops serves pc with n read loops until ctx is done or one of them
// fails. setup is called once, with the context the loops run under
// (cancelled when ctx is done or a loop fails) and the WaitGroup they are
// counted in (work a loop starts may join it); the func it returns is
// run n times, each on its own goroutine. When ctx is done the loops'
// reads are unblocked (a read deadline in the past). ReadLoops returns,
// once everything in the WaitGroup has ended, the first loop's error,
// or nil. It does not close pc.
func ReadLoops(ctx context.Context, pc net.PacketConn, n int, setup func(ctx context.Context, wg *sync.WaitGroup) func() error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { pc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var wg sync.WaitGroup
	loop := setup(ctx, &wg)
	errc := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := loop(); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}
