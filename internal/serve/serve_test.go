package serve

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scriptedListener is a net.Listener on no network: its Accepts return
// the scripted errors first, in order, then the connections sent on conns,
// until it is closed. It records when each Accept was called, so tests in
// a synctest bubble can read the pauses between them off the fake clock.
// Close runs gate (if set) after marking the listener closed and before it
// returns, to stand for a Close that takes a while.
type scriptedListener struct {
	conns  chan net.Conn
	closed chan struct{}
	gate   chan struct{}

	mu       sync.Mutex
	errs     []error
	calls    []time.Time
	closes   int
	closeEnd bool // a Close has returned
}

func newScripted(errs ...error) *scriptedListener {
	return &scriptedListener{conns: make(chan net.Conn), closed: make(chan struct{}), errs: errs}
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls = append(l.calls, time.Now())
	select {
	case <-l.closed:
		l.mu.Unlock()
		return nil, net.ErrClosed
	default:
	}
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *scriptedListener) Close() error {
	l.mu.Lock()
	l.closes++
	first := l.closes == 1
	l.mu.Unlock()
	if !first {
		return net.ErrClosed
	}
	close(l.closed)
	if l.gate != nil {
		<-l.gate
	}
	l.mu.Lock()
	l.closeEnd = true
	l.mu.Unlock()
	return nil
}

func (l *scriptedListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// pushErrs scripts more errors for the next Accepts.
func (l *scriptedListener) pushErrs(errs ...error) {
	l.mu.Lock()
	l.errs = append(l.errs, errs...)
	l.mu.Unlock()
}

// gaps returns the pauses between consecutive Accept calls.
func (l *scriptedListener) gaps() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(l.calls); i++ {
		out = append(out, l.calls[i].Sub(l.calls[i-1]))
	}
	return out
}

func (l *scriptedListener) closedDone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeEnd
}

// acceptErr is what a TCP listener's Accept returns for errno.
func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

const ms = time.Millisecond

// start runs Accept on its own goroutine and returns stop, which cancels
// its context and returns what Accept returned. stop also runs at the
// test's end, so that a failed test leaves no goroutine in its bubble.
func start(t *testing.T, ln net.Listener, handle func(net.Conn)) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Accept(ctx, ln, handle) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// Running out of descriptors is temporary: Accept pauses and accepts
// again, the pause doubling from 5 ms up to a second (net/http's server
// does the same), and a connection accepted at last resets the pause.
func TestAcceptBacksOffOnTemporaryErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newScripted(repeat(acceptErr(syscall.EMFILE), 10)...)
		got := make(chan net.Conn, 2)
		stop := start(t, ln, func(c net.Conn) { got <- c })

		c1, p1 := net.Pipe()
		defer c1.Close()
		defer p1.Close()
		ln.conns <- c1 // accepted after the ten errors and their pauses
		if c := <-got; c != c1 {
			t.Fatalf("handle got %v, want the accepted connection", c)
		}
		synctest.Wait() // the next Accept waits for a connection
		want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}
		if g := ln.gaps(); !slices.Equal(g[:len(want)], want) {
			t.Fatalf("pauses %v, want %v", g, want)
		}

		// A success resets the pause: the next error waits 5 ms again.
		ln.pushErrs(acceptErr(syscall.ENFILE), acceptErr(syscall.EMFILE))
		c2, p2 := net.Pipe()
		defer c2.Close()
		defer p2.Close()
		ln.conns <- c2
		<-got
		time.Sleep(time.Second) // fake time: the pauses run out
		// The call that took c2, the one that met ENFILE, 5 ms
		// later the one that met EMFILE, 10 ms later the one now waiting.
		if g := ln.gaps()[len(want):]; !slices.Equal(g, []time.Duration{0, 0, 5 * ms, 10 * ms}) {
			t.Fatalf("pauses after a success %v, want [0s 0s 5ms 10ms]", g)
		}

		if err := stop(); err != nil {
			t.Fatalf("Accept after its context ended: %v", err)
		}
		if !ln.closedDone() {
			t.Fatal("listener not closed when Accept returned")
		}
	})
}

// An error that is not temporary (here EINVAL, and an error with no
// Temporary method at all) ends Accept at once with that error, and the
// listener is closed.
func TestAcceptReturnsPermanentError(t *testing.T) {
	for _, perm := range []error{acceptErr(syscall.EINVAL), errors.New("listener broke")} {
		synctest.Test(t, func(t *testing.T) {
			ln := newScripted(acceptErr(syscall.EMFILE), perm)
			start := time.Now()
			err := Accept(context.Background(), ln, func(net.Conn) { t.Error("handle called") })
			if !errors.Is(err, perm) {
				t.Fatalf("Accept returned %v, want %v", err, perm)
			}
			if d := time.Since(start); d != 5*ms {
				t.Fatalf("returned after %v, want after the one 5ms pause only", d)
			}
			if !ln.closedDone() {
				t.Fatal("listener left open after a permanent error")
			}
		})
	}
}

// A listener closed by someone else (not by ctx) is a permanent error:
// Accept returns net.ErrClosed rather than nil, which only a done ctx
// earns.
func TestAcceptListenerClosedElsewhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newScripted()
		done := make(chan error, 1)
		go func() { done <- Accept(context.Background(), ln, func(net.Conn) {}) }()
		synctest.Wait()
		ln.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept returned %v, want net.ErrClosed", err)
		}
	})
}

// A context that ends during a pause ends Accept then, with nil, not a
// second later; temporary errors met after the context ended are not
// ridden out.
func TestAcceptContextEndsDuringPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newScripted(repeat(acceptErr(syscall.EMFILE), 100)...)
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- Accept(ctx, ln, func(net.Conn) { t.Error("handle called") }) }()
		// 5+10+...+640 ms = 1275 ms, then pauses of a second: at 2 s the
		// loop is in the middle of its tenth pause.
		time.Sleep(2 * time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Accept returned %v, want nil after ctx", err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("Accept returned %v after the start, want at the cancel (2s)", d)
		}
	})
}

// Accept does not return before the listener's close has finished, even
// when ctx started that close on another goroutine: until then the port
// still takes connections, and a caller that starts a new listener on it,
// or reports the server stopped, would be wrong.
func TestAcceptWaitsForTheCloseCtxStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newScripted()
		ln.gate = make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Accept(ctx, ln, func(net.Conn) {}) }()
		synctest.Wait()
		cancel()
		synctest.Wait() // the close runs and hangs in the gate
		select {
		case err := <-done:
			t.Fatalf("Accept returned (%v) while the listener's Close was still at work", err)
		default:
		}
		close(ln.gate)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !ln.closedDone() {
			t.Fatal("Accept returned before Close did")
		}
		if ln.closes != 1 {
			t.Fatalf("listener closed %d times, want once", ln.closes)
		}
	})
}

// failingListener fails its first n Accepts with err, then accepts from a
// real loopback listener.
type failingListener struct {
	net.Listener
	n   atomic.Int32
	err error
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, l.err
	}
	return l.Listener.Accept()
}

// On a real loopback socket: a client's connection is handed over after
// EMFILE, and once Accept returns (after ctx, or a permanent error) the
// port refuses connections.
func TestAcceptLoopback(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &failingListener{Listener: inner, err: acceptErr(syscall.EMFILE)}
	ln.n.Store(3)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan net.Conn, 1)
	done := make(chan error, 1)
	go func() { done <- Accept(ctx, ln, func(c net.Conn) { got <- c }) }()
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-got
	if s.RemoteAddr().String() != c.LocalAddr().String() {
		t.Fatalf("handed %v, want the client's %v", s.RemoteAddr(), c.LocalAddr())
	}
	s.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Accept after ctx: %v", err)
	}
	if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
		c.Close()
		t.Fatal("port still takes connections after Accept returned")
	}

	inner, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bad := &failingListener{Listener: inner, err: acceptErr(syscall.EINVAL)}
	bad.n.Store(1)
	if err := Accept(context.Background(), bad, func(net.Conn) {}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Accept returned %v, want EINVAL", err)
	}
	if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
		c.Close()
		t.Fatal("listener left open after a permanent accept error")
	}
}

// Conns: a connection is in the set while its goroutine runs and leaves
// it when fn returns; Wait waits for every goroutine. The zero value is
// ready to use.
func TestConnsServeEachWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s Conns[int]
		release := map[int]chan struct{}{1: make(chan struct{}), 2: make(chan struct{})}
		for id, ch := range release {
			s.Serve(id, func() { <-ch })
		}
		synctest.Wait()
		if got := members(&s); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("set %v, want [1 2]", got)
		}
		close(release[1])
		synctest.Wait()
		if got := members(&s); !slices.Equal(got, []int{2}) {
			t.Fatalf("set %v after 1 ended, want [2]", got)
		}
		waited := make(chan struct{})
		go func() { s.Wait(); close(waited) }()
		synctest.Wait()
		select {
		case <-waited:
			t.Fatal("Wait returned while a connection's goroutine ran")
		default:
		}
		close(release[2])
		<-waited
		if got := members(&s); len(got) != 0 {
			t.Fatalf("set %v after every goroutine ended", got)
		}
	})
}

func members(s *Conns[int]) []int {
	var out []int
	s.Each(func(c int) { out = append(out, c) })
	slices.Sort(out)
	return out
}

// Drain reports true as soon as every goroutine has ended, without
// killing anything; at its timeout it kills those left (exactly then,
// not before) and reports false.
func TestConnsDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s Conns[int]
		quick := make(chan struct{})
		s.Serve(1, func() { <-quick })
		go func() { time.Sleep(3 * time.Second); close(quick) }()
		start := time.Now()
		if !s.Drain(10*time.Second, func(int) { t.Error("kill called though every connection ended in time") }) {
			t.Fatal("Drain reported false though every connection ended in time")
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("Drain returned after %v, want when the last ended (3s)", d)
		}

		stuck := map[int]chan struct{}{2: make(chan struct{}), 3: make(chan struct{})}
		for id, ch := range stuck {
			s.Serve(id, func() { <-ch })
		}
		ended := make(chan struct{})
		s.Serve(4, func() { <-ended })
		go func() { time.Sleep(time.Second); close(ended) }()
		start = time.Now()
		var killed []int
		ok := s.Drain(5*time.Second, func(c int) {
			if d := time.Since(start); d != 5*time.Second {
				t.Errorf("kill at %v, want at the timeout (5s)", d)
			}
			killed = append(killed, c)
			close(stuck[c]) // as closing a connection ends its goroutine
		})
		if ok {
			t.Fatal("Drain reported true with connections left at its timeout")
		}
		slices.Sort(killed)
		if !slices.Equal(killed, []int{2, 3}) {
			t.Fatalf("killed %v, want [2 3] (4 had ended)", killed)
		}
		s.Wait()
	})
}
