// Package redistest runs a real redis-server for tests: from PATH, on a
// loopback port, in a temporary directory, without persistence unless
// asked. Without the binary the test is skipped with a message saying how
// to get it, unless the environment sets EDGEKIT_REQUIRE_REDIS=1 (CI
// does), which turns the skip into a failure.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv names the variable that turns a missing redis-server from a
// skip into a failure.
const RequireEnv = "EDGEKIT_REQUIRE_REDIS"

// startTimeout bounds how long a redis-server may take to say it is
// ready.
const startTimeout = 10 * time.Second

// Options configures a Server. The zero value is a server without
// persistence.
type Options struct {
	// Persist keeps data across Restart (an append-only file with
	// fsync always); without it a restart loses everything.
	Persist bool
}

// Server is a running redis-server owned by a test. Its methods are not
// safe for concurrent use; the test calls them from one goroutine.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	opts Options
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a redis-server for t and stops it at t's cleanup. It skips
// t (or fails it under EDGEKIT_REQUIRE_REDIS=1) when redis-server is not
// on PATH.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not found on PATH (Debian/Ubuntu: apt-get install -y redis-server)"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s, and %s=1 requires it", msg, RequireEnv)
		}
		t.Skip(msg)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), opts: opts}
	// The port is found by listening on :0 and closing; another process
	// may take it in between, so a few attempts.
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		err = s.start()
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("redistest: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr returns the server's address, 127.0.0.1:port (the same across
// Restart).
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *Server) start() error {
	args := []string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port), "--dir", s.dir,
		"--save", "", "--daemonize", "no", "--logfile", "", "--loglevel", "notice",
	}
	if s.opts.Persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	// Ready when it says so on its log (a notification, not a poll).
	ready := make(chan error, 1)
	var logMu sync.Mutex
	var log strings.Builder
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		said := false
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			log.WriteString(line + "\n")
			logMu.Unlock()
			if !said && strings.Contains(line, "Ready to accept connections") {
				said = true
				ready <- nil
			}
		}
		io.Copy(io.Discard, out)
		if !said {
			ready <- errors.New("redis-server exited before it was ready")
		}
		cmd.Wait()
		close(done)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case err = <-ready:
	case <-timer.C:
		err = fmt.Errorf("redis-server not ready after %v", startTimeout)
	}
	if err != nil {
		cmd.Process.Kill()
		<-done
		logMu.Lock()
		defer logMu.Unlock()
		return fmt.Errorf("%w; its log:\n%s", err, log.String())
	}
	s.cmd, s.done = cmd, done
	return nil
}

// Kill stops the server at once (SIGKILL): whatever was not persisted is
// lost. It waits for the process to exit.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart kills the server if it runs and starts it again on the same
// port. Without Options.Persist it comes back empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// Stop kills the server and removes nothing else (t.TempDir does). It is
// idempotent.
func (s *Server) Stop() { s.Kill() }

// Dir returns the server's working directory.
func (s *Server) Dir() string { return filepath.Clean(s.dir) }
