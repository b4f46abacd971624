// Package acme obtains and renews certificates over ACME (RFC 8555) with
// github.com/caddyserver/certmagic, the library behind Caddy's automatic
// HTTPS, and serves them through a tlsfront.Front as its Source.
//
//	m, err := acme.New(acme.Config{
//		CA: acme.LetsEncryptStaging, Email: "ops@example.com", Dir: "/var/lib/edge/acme",
//		HTTPAddr: httpLn.Addr().String(), TLSAddr: tlsLn.Addr().String(),
//	})
//	defer m.Close()
//	front, err := tlsfront.New(tlsfront.Config{Source: m}) // files may be added too
//	defer front.Close()
//	err = m.Manage(ctx, []string{"www.example.com", "example.com"})
//	go http.Serve(httpLn, m.HTTPChallengeHandler(tlsfront.Redirect(443)))
//	http.Serve(tls.NewListener(tlsLn, front.TLSConfig()), site)
//
// Package tlsfront/httpsflags does this wiring for programs from flags.
//
// # Challenges
//
// The edge answers challenges itself, on the listeners it serves from:
// HTTP-01 (RFC 8555 §8.3) on the plain-HTTP listener, through
// HTTPChallengeHandler placed in front of the redirect to HTTPS, and
// TLS-ALPN-01 (RFC 8737) on the TLS listener, where the Front hands
// handshakes that offer only the ALPN protocol "acme-tls/1" to
// ChallengeCertificate. Either can be turned off by leaving its address
// empty. certmagic never opens listeners of its own here: Config.HTTPAddr
// and TLSAddr name ours, which it finds taken. Only names given to Manage
// are answered for; a challenge request for any other host goes to the
// next handler without touching storage.
//
// # Which certificate is served
//
// The Front decides (see package tlsfront): a file certificate covering
// the name, exactly or by wildcard, wins over an ACME certificate, as in
// Caddy, which does not manage a name a loaded certificate covers; then
// the ACME certificate; then the default. Programs should not give
// Manage the names their files cover (package httpsflags skips them and
// says so). Of the certificates certmagic holds for a name (during a
// renewal, the old and the new), the one that expires last is served.
// The answer is cached per name for a second (a handshake then reads a
// map: about 0.2 µs and no allocation, against 5 µs and 6 allocations
// through certmagic's cache), dropped as soon as a certificate comes
// into service; a renewed certificate serves new handshakes within a
// second of certmagic reloading it.
//
// # Storage, renewal and fleets
//
// The account, certificates, keys, locks and challenges in progress live
// in Config.Storage: a directory by default. Renewal starts when a
// certificate enters its renewal window (the last third of its lifetime
// by default, or earlier if the CA's renewal information says so) and is
// checked every CheckInterval; failures are retried with backoff. Nodes
// that share the storage (one directory on a shared file system, with
// certmagic's lock files, or Redis with package tlsfront/redisstorage)
// order each name once: the first takes the name's lock and orders,
// the others wait for the lock and then find the certificate stored;
// whichever node the CA reaches answers the challenge, from storage.
//
// certmagic reads the wall clock itself (no clock can be injected);
// renewal tests use short-lived certificates from a loopback CA.
//
// # Concurrency and goroutines
//
// A Manager is safe for concurrent use. New starts certmagic's
// maintenance goroutine; Manage starts one goroutine per name still to
// obtain; renewals run on certmagic's job queue, bound to the Manager's
// context. Close cancels that context and waits for the goroutines it
// owns. certmagic keeps a few process-wide things outside any Manager: a
// rate limiter per CA and account (10 orders per 10 s) whose goroutine
// is never stopped, and the in-memory table of challenges in progress.
package acme
