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
// A plain value: set it up before use and do not change it while in use.
type Options struct {
	// Persist keeps data across Restart (an append-only file with
	// fsync always); without it a restart loses everything.
	Persist bool
	// ReplicaOf, if set (host:port), starts the server as a replica of
	// that server.
	ReplicaOf string

	cluster bool // a Cluster node: --cluster-enabled, a bus port of its own
}

// Server is a running redis-server owned by a test. Its methods are not
// safe for concurrent use; the test calls them from one goroutine.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	bus  int // the cluster bus port (Options.cluster)
	opts Options
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a redis-server for t and stops it at t's cleanup. It skips
// t (or fails it under EDGEKIT_REQUIRE_REDIS=1) when redis-server is not
// on PATH.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: lookBin(t), dir: t.TempDir(), opts: opts}
	// The port is found by listening on :0 and closing; another process
	// may take it in between, so a few attempts.
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		if opts.cluster {
			s.bus = freePort(t)
		}
		err := s.start()
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

// lookBin returns redis-server's path, or skips t (fails it under
// EDGEKIT_REQUIRE_REDIS=1).
func lookBin(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not found on PATH (Debian/Ubuntu: apt-get install -y redis-server)"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s, and %s=1 requires it", msg, RequireEnv)
		}
		t.Skip(msg)
	}
	return bin
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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
	if s.opts.ReplicaOf != "" {
		host, port, err := net.SplitHostPort(s.opts.ReplicaOf)
		if err != nil {
			return err
		}
		args = append(args, "--replicaof", host, port)
	}
	if s.opts.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(s.bus), "--cluster-node-timeout", "2000")
	}
	cmd, done, err := launch(s.bin, s.dir, args, "Ready to accept connections")
	if err != nil {
		return err
	}
	s.cmd, s.done = cmd, done
	return nil
}

// launch starts bin with args in dir and waits until its log says ready
// (a notification, not a poll), or startTimeout. done is closed when the
// process has exited.
func launch(bin, dir string, args []string, ready string) (*exec.Cmd, chan struct{}, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	isReady := make(chan error, 1)
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
			if !said && strings.Contains(line, ready) {
				said = true
				isReady <- nil
			}
		}
		io.Copy(io.Discard, out)
		if !said {
			isReady <- errors.New("redis-server exited before it was ready")
		}
		cmd.Wait()
		close(done)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case err = <-isReady:
	case <-timer.C:
		err = fmt.Errorf("redis-server not ready after %v", startTimeout)
	}
	if err != nil {
		cmd.Process.Kill()
		<-done
		logMu.Lock()
		defer logMu.Unlock()
		return nil, nil, fmt.Errorf("%w; its log:\n%s", err, log.String())
	}
	return cmd, done, nil
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
