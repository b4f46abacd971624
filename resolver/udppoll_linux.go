//go:build linux && (amd64 || arm64)

package resolver

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// udpPoller waits for the replies to upstream queries on sockets of its
// own: non-blocking UDP sockets, each made for one query (from a fresh
// random port, as dialUDP's) and closed after it, in an epoll set of the
// poller's. One goroutine waits on the set (the epoll descriptor itself is
// in Go's poller, so it waits without holding a thread) and wakes the
// exchange whose socket has a datagram, which reads it. Against a socket
// handed to Go's poller as an *os.File, a query saves the file's
// allocations and finalizer, the poller's registration and removal
// (closing the socket takes it out of the set), and the scheduler's
// bookkeeping around each system call: those on these sockets cannot
// block, so they are raw system calls.
//
// It is safe for concurrent use. close stops the goroutine and waits for
// it; the resolver's context ends the exchanges under way.
type udpPoller struct {
	epfd int      // the epoll set
	ep   *os.File // epfd in Go's poller
	done chan struct{}

	socks sync.Pool // *rawUDP, each with its wake channel and timer

	mu      sync.Mutex
	closed  atomic.Bool       // set under mu
	waiting map[int32]*rawUDP // by descriptor (mu)
}

func newUDPPoller() (*udpPoller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	p := &udpPoller{epfd: epfd, ep: os.NewFile(uintptr(epfd), "epoll"), done: make(chan struct{}), waiting: map[int32]*rawUDP{}}
	rc, err := p.ep.SyscallConn()
	if err != nil {
		p.ep.Close()
		return nil, err
	}
	go p.dispatch(rc)
	return p, nil
}

// dispatch wakes the exchanges whose sockets are ready, until close.
func (p *udpPoller) dispatch(rc syscall.RawConn) {
	defer close(p.done)
	var events [64]syscall.EpollEvent
	for {
		err := rc.Read(func(fd uintptr) bool {
			for {
				n, err := syscall.EpollWait(int(fd), events[:], 0)
				if err == syscall.EINTR {
					continue
				}
				if err != nil {
					return true
				}
				p.mu.Lock()
				for _, ev := range events[:n] {
					if s := p.waiting[ev.Fd]; s != nil {
						s.wake()
					}
				}
				p.mu.Unlock()
				if n < len(events) {
					// Drained: wait until the set has events again (Go's
					// poller watches it, edge-triggered).
					return false
				}
			}
		})
		if err != nil {
			return // closed
		}
	}
}

// close stops the dispatching goroutine and waits for it; open fails from
// then on.
func (p *udpPoller) close() {
	p.mu.Lock()
	p.closed.Store(true)
	for _, s := range p.waiting {
		s.wake() // their reads see closed and end
	}
	p.mu.Unlock()
	p.ep.Close()
	<-p.done
}

// open returns a socket connected to server, from a fresh port (see
// dialUDP), in p's set; its reads end at deadline or when ctx or stop
// ends (stop is the resolver's context, which Close ends before it
// closes p). It returns errNoRawPath for an address it does not handle (an IPv6
// address with a zone).
func (p *udpPoller) open(ctx, stop context.Context, server netip.AddrPort, deadline time.Time) (upstreamSocket, error) {
	a := server.Addr()
	if a.Zone() != "" {
		return nil, errNoRawPath
	}
	var sa4 syscall.RawSockaddrInet4
	var sa6 syscall.RawSockaddrInet6
	var sa unsafe.Pointer
	var salen uintptr
	var port *[2]byte
	family := syscall.AF_INET
	if a.Is4() || a.Is4In6() {
		sa4.Family, sa4.Addr = syscall.AF_INET, a.Unmap().As4()
		sa, salen, port = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4), (*[2]byte)(unsafe.Pointer(&sa4.Port))
	} else {
		family = syscall.AF_INET6
		sa6.Family, sa6.Addr = syscall.AF_INET6, a.As16()
		sa, salen, port = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6), (*[2]byte)(unsafe.Pointer(&sa6.Port))
	}
	port[0], port[1] = byte(server.Port()>>8), byte(server.Port()) // network order
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	// connect on a UDP socket does not block. It binds the socket to a
	// port of the ephemeral range found from a random starting point (a
	// new one for every socket, RFC 5452 §9.2), and from then on the
	// kernel drops datagrams from any other address or port.
	if _, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(sa), salen); e != 0 {
		syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
		return nil, os.NewSyscallError("connect", e)
	}
	s, _ := p.socks.Get().(*rawUDP)
	if s == nil {
		s = &rawUDP{p: p, ready: make(chan struct{}, 1)}
		s.timer = time.AfterFunc(time.Hour, s.expire)
		s.timer.Stop()
	}
	select {
	case <-s.ready: // a wake left from the last use
	default:
	}
	s.fd, s.ctx, s.readBefore = fd, ctx, false
	s.expired.Store(false)
	if ctx == stop || ctx.Done() == nil {
		s.ctx = nil // the resolver's own context: close wakes the socket
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLET&0xffffffff, Fd: int32(fd)}
	p.mu.Lock()
	if p.closed.Load() || stop.Err() != nil {
		err = net.ErrClosed
	} else if err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err == nil {
		p.waiting[int32(fd)] = s
	} else {
		err = os.NewSyscallError("epoll_ctl", err)
	}
	p.mu.Unlock()
	if err != nil {
		syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
		s.ctx = nil
		p.socks.Put(s)
		return nil, err
	}
	s.timer.Reset(time.Until(deadline))
	return s, nil
}

// expire is the socket's timer function: the deadline has passed.
func (s *rawUDP) expire() {
	s.expired.Store(true)
	s.wake()
}

// wake wakes the socket's reader, if it is not woken already.
func (s *rawUDP) wake() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// rawUDP is a socket opened by udpPoller.open, for one query. It is used
// by one goroutine at a time. Its reader waits on one channel, woken by
// the dispatcher (a datagram), its timer (the deadline) and the poller's
// close (the resolver's Close); only a context of another making than the
// resolver's is watched beside it.
type rawUDP struct {
	p     *udpPoller
	fd    int
	ready chan struct{}   // wake the reader (buffered: a wake is never lost)
	timer *time.Timer     // the read deadline: runs expire
	ctx   context.Context // watched by read if not nil

	expired    atomic.Bool // the timer ran
	readBefore bool        // read was called since open
}

func (s *rawUDP) write(b []byte) error {
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0, 0, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		}
		return e
	}
}

// read reads a datagram into b, waiting for one until the deadline or the
// end of ctx or stop, which it reports as os.ErrDeadlineExceeded (as a
// socket's read deadline would).
func (s *rawUDP) read(b []byte) (int, error) {
	// The first read waits for a wake before it reads: the reply to the
	// query just sent cannot be there yet (a system call saved per
	// query). The socket was in the epoll set before the query left, so
	// the wake for its reply is not lost.
	wait := !s.readBefore
	s.readBefore = true
	for {
		if wait {
			if s.ctx == nil {
				<-s.ready
			} else {
				select {
				case <-s.ready:
				case <-s.ctx.Done():
					return 0, os.ErrDeadlineExceeded
				}
			}
			if s.expired.Load() || s.p.closed.Load() {
				return 0, os.ErrDeadlineExceeded
			}
		}
		wait = true
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(s.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0, 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN: // wait for the next wake
		default:
			return 0, e // ECONNREFUSED: an ICMP port unreachable
		}
	}
}

// close closes the socket, which takes it out of the epoll set, and
// returns s to the pool.
func (s *rawUDP) close() {
	p := s.p
	p.mu.Lock()
	delete(p.waiting, int32(s.fd))
	p.mu.Unlock()
	syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(s.fd), 0, 0)
	s.ctx = nil
	if !s.timer.Stop() {
		// The timer ran, or is running: its expire may still come, so
		// this socket's state is not reused.
		return
	}
	p.socks.Put(s)
}
