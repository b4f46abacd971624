package serve

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
)

// readUntilError is a read loop that returns nil when ctx is done and
// the read error otherwise, as the servers' UDP loops do.
func readUntilError(ctx context.Context, pc net.PacketConn) func() error {
	return func() error {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// TestReadLoopsStopAtCtx: ctx's end unblocks every loop's read, and work
// a loop counted in the WaitGroup ends before ReadLoops returns nil.
func TestReadLoopsStopAtCtx(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var workDone bool
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ReadLoops(ctx, pc, 3, func(ctx context.Context, wg *sync.WaitGroup) func() error {
			wg.Add(1)
			go func() {
				defer wg.Done()
				close(started)
				<-ctx.Done()
				workDone = true
			}()
			return readUntilError(ctx, pc)
		})
	}()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ReadLoops: %v", err)
	}
	if !workDone {
		t.Fatal("ReadLoops returned before the work counted in its WaitGroup")
	}
}

// TestReadLoopsReturnFailure: a loop's failure stops the others and is
// returned.
func TestReadLoopsReturnFailure(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	var once sync.Once
	err = ReadLoops(t.Context(), pc, 2, func(ctx context.Context, _ *sync.WaitGroup) func() error {
		read := readUntilError(ctx, pc)
		return func() error {
			failed := false
			once.Do(func() { failed = true })
			if failed {
				return boom
			}
			return read()
		}
	})
	pc.Close()
	if !errors.Is(err, boom) {
		t.Fatalf("ReadLoops = %v, want the failing loop's error", err)
	}
}
