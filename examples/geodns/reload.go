package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgekit/edgekit/resolver/authority/geoip"
)

// geoipPoll is how often the -geoip file is checked for a new version
// (a download replacing it); SIGHUP reloads it at once.
const geoipPoll = 10 * time.Second

// reloadGeoIP reads the -geoip file again (SIGHUP) and says on out what
// happened: a bad file keeps the database in use.
func reloadGeoIP(f *geoip.File, out io.Writer) {
	if err := f.Reload(); err != nil {
		fmt.Fprintf(out, "geoip: %v; keeping the database loaded before\n", err)
		return
	}
	fmt.Fprintf(out, "geoip: reloaded %s\n", f.Path())
}

// watchGeoIP reloads f whenever its file changes, checked every poll,
// until ctx ends, and says so on out.
func watchGeoIP(ctx context.Context, f *geoip.File, poll time.Duration, out io.Writer) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch changed, err := f.ReloadIfChanged(); {
		case err != nil:
			fmt.Fprintf(out, "geoip: %v; keeping the database loaded before\n", err)
		case changed:
			fmt.Fprintf(out, "geoip: %s changed: reloaded\n", f.Path())
		}
	}
}
