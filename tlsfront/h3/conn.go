package h3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Serve runs its own loop over each connection's streams, with quic-go's
// http3.RawServerConn serving each stream, rather than http3.Server's
// loop, which offers no hook to bound the wait for a request's HEADERS
// and, at shutdown, keeps idle connections open until the client closes
// them. The cost: quic-go writes GOAWAY only from its own loop, so a
// connection ends with CONNECTION_CLOSE (H3_NO_ERROR) once its requests
// are done, and requests after shutdown began are refused with
// H3_REQUEST_REJECTED, which a client may send again (RFC 9114 §8.1;
// quic-go's client does).

// shutdown tells the connections of one Serve that it is ending: stopping
// closes when they are to take no new request and close once idle,
// closing when they are to close now.
type shutdown struct {
	stopping, closing chan struct{}
	stopOnce, once    sync.Once
}

func newShutdown() *shutdown {
	return &shutdown{stopping: make(chan struct{}), closing: make(chan struct{})}
}

func (sh *shutdown) stop()     { sh.stopOnce.Do(func() { close(sh.stopping) }) }
func (sh *shutdown) closeAll() { sh.once.Do(func() { close(sh.closing) }) }

// connState counts a connection's request streams from their acceptance
// to the end of their handler. Safe for concurrent use.
type connState struct {
	mu       sync.Mutex
	open     int
	stopping bool
	idle     chan struct{} // closed once stopping with no stream open
}

// begin counts a new stream in, unless the connection is stopping.
func (c *connState) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	c.open++
	return true
}

func (c *connState) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	if c.open == 0 && c.stopping {
		close(c.idle)
	}
}

func (c *connState) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
	if c.open == 0 {
		close(c.idle)
	}
}

// drainTime is how long a connection whose requests are all done stays
// open at shutdown before CONNECTION_CLOSE, which ends retransmission:
// three probe timeouts (RFC 9002 §6.2.1, with the default max_ack_delay
// of 25 ms), time for the last response's packets to be acknowledged or
// sent again (RFC 9000 §10.2 waits as long after a close).
func drainTime(conn *quic.Conn) time.Duration {
	st := conn.ConnectionStats()
	return 3 * (st.SmoothedRTT + max(4*st.MeanDeviation, time.Millisecond) + 25*time.Millisecond)
}

// awaitStreamType waits at most timeout for the stream type that opens a
// unidirectional stream (RFC 9114 §6.2), without consuming it, and
// reports whether the stream is to be handed to quic-go, which reads it
// again. quic-go's own wait has no bound: a client could open its
// MaxIncomingUniStreams (100) streams, send nothing on them and hold a
// goroutine for each as long as the connection lives. A stream still
// without its type after timeout is aborted with H3_STREAM_CREATION_ERROR,
// as a stream of unknown type is (§6.2); its goroutine ends.
func awaitStreamType(str *quic.ReceiveStream, timeout time.Duration) bool {
	str.SetReadDeadline(time.Now().Add(timeout))
	var b [8]byte
	_, err := str.Peek(b[:1])
	if err == nil {
		_, err = str.Peek(b[:1<<(b[0]>>6)]) // the varint's length (RFC 9000 §16)
	}
	str.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		str.CancelRead(quic.StreamErrorCode(http3.ErrCodeStreamCreationError))
		return false
	}
	// The type, or the end or reset of the stream, which quic-go handles
	// (a critical stream closed closes the connection, §6.2.1).
	return true
}

// serveConn serves one connection's streams until it closes: request
// streams each on a goroutine, their HEADERS awaited for at most
// ReadHeaderTimeout; the client's control and QPACK streams by srv, their
// stream type awaited for at most ReadHeaderTimeout too. It
// returns once every goroutine it started has ended.
func (s *Server) serveConn(sh *shutdown, srv *http3.Server, conn *quic.Conn) {
	hconn, err := srv.NewRawServerConn(conn)
	if err != nil {
		conn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeInternalError), "")
		return
	}
	closeConn := func() { hconn.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "") }
	c := &connState{idle: make(chan struct{})}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			str, err := conn.AcceptUniStream(context.Background())
			if err != nil {
				return
			}
			wg.Go(func() {
				if awaitStreamType(str, s.cfg.ReadHeaderTimeout) {
					hconn.HandleUnidirectionalStream(str)
				}
			})
		}
	})
	wg.Go(func() {
		done := conn.Context().Done()
		select {
		case <-sh.stopping:
		case <-done:
			return
		}
		c.stop()
		select {
		case <-c.idle:
		case <-sh.closing:
			closeConn()
			return
		case <-done:
			return
		}
		t := time.NewTimer(drainTime(conn))
		defer t.Stop()
		select {
		case <-t.C:
		case <-sh.closing:
		case <-done:
			return
		}
		closeConn()
	})
	for {
		str, err := conn.AcceptStream(context.Background())
		if err != nil {
			return // the connection is closed
		}
		if !c.begin() {
			str.ReleaseStreamCredit()
			str.CancelRead(quic.StreamErrorCode(http3.ErrCodeRequestRejected))
			str.CancelWrite(quic.StreamErrorCode(http3.ErrCodeRequestRejected))
			continue
		}
		// Until the handler runs (bodyDeadlines): a stream still
		// short of its HEADERS is then reset with H3_REQUEST_INCOMPLETE.
		str.SetReadDeadline(time.Now().Add(s.cfg.ReadHeaderTimeout))
		wg.Go(func() {
			defer c.end()
			hconn.HandleRequestStream(str)
		})
	}
}

// bodyDeadlines clears the stream's read deadline that bounded the wait
// for HEADERS before next runs, and gives the body instead a deadline of
// bodyIdle (none if zero) from each Read: the handler may take as long as
// it likes between reads, a client may not between bytes (slow POST).
func bodyDeadlines(next http.Handler, bodyIdle time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, ok := w.(readDeadliner); ok {
			d.SetReadDeadline(time.Time{})
			if bodyIdle > 0 && r.Body != nil && r.Body != http.NoBody {
				r.Body = &idleBody{ReadCloser: r.Body, d: d, timeout: bodyIdle}
			}
		}
		next.ServeHTTP(w, r)
	})
}

type readDeadliner interface{ SetReadDeadline(time.Time) error }

// idleBody is a request body whose reads fail with an error wrapping
// ErrBodyTimeout (and os.ErrDeadlineExceeded) when the client sends
// nothing for timeout while one waits. The deadline is moved at most every
// timeout/8, so the bound is between 7/8 of timeout and timeout, as
// package httpfront's BodyIdleTimeout. Not safe for concurrent use (nor
// is the body it wraps).
type idleBody struct {
	io.ReadCloser
	d       readDeadliner
	timeout time.Duration
	set     time.Time // when the deadline was last moved
}

func (b *idleBody) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(b.set) >= b.timeout/8 {
		b.set = now
		b.d.SetReadDeadline(now.Add(b.timeout))
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w after %v: %w", ErrBodyTimeout, b.timeout, err)
	}
	return n, err
}
