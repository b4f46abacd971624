package geoip

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/resolver/authority"
)

// File is an authority.Locator over a MaxMind DB file that is reloaded
// while it serves: Reload (on SIGHUP, say) or ReloadIfChanged (on a
// timer) reads the file again and swaps the new database in atomically;
// answers in flight finish with the old one. A file that does not read
// as a database leaves the database in use as it was, and the error says
// why.
//
// The file is read into memory, not memory-mapped, so that a database
// replaced while an answer still reads it is freed by the garbage
// collector, never unmapped under it: a reload holds both copies until
// the old one is no longer used.
//
// A File is safe for concurrent use by multiple goroutines and starts
// no goroutines. It must not be copied after first use.
type File struct {
	path string
	db   atomic.Pointer[DB]

	mu    sync.Mutex // serialises reloads; guards stamp
	stamp fileStamp
}

// fileStamp is what ReloadIfChanged compares: a file rewritten or
// replaced changes its size or modification time.
type fileStamp struct {
	size int64
	mod  time.Time
}

var _ authority.Locator = (*File)(nil)

// OpenFile reads the MaxMind DB file at path, or returns an error
// wrapping ErrBadDB (or the file system's error).
func OpenFile(path string) (*File, error) {
	f := &File{path: path}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Locate implements authority.Locator with the database loaded last.
func (f *File) Locate(addr netip.Addr) (authority.Location, netip.Prefix, bool) {
	return f.db.Load().Locate(addr)
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Reload reads the file again and serves the database in it from now on.
// If the file cannot be read, or is not a database, the database loaded
// before stays in use and the error (wrapping ErrBadDB for a bad
// database) says why.
func (f *File) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reload()
}

func (f *File) reload() error {
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("geoip: %w", err)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("geoip: %w", err)
	}
	db, err := OpenBytes(b)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, f.path)
	}
	f.db.Store(db)
	f.stamp = fileStamp{size: fi.Size(), mod: fi.ModTime()}
	return nil
}

// ReloadIfChanged reloads the file if its size or modification time
// changed since it was last read, and reports whether it did. A changed
// file that is not a database is not read again until it changes once
// more; the error says why, and the database loaded before stays in use.
func (f *File) ReloadIfChanged() (reloaded bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return false, fmt.Errorf("geoip: %w", err)
	}
	now := fileStamp{size: fi.Size(), mod: fi.ModTime()}
	if now == f.stamp {
		return false, nil
	}
	if err := f.reload(); err != nil {
		f.stamp = now // said once, not at every poll
		return false, err
	}
	return true, nil
}
