// Package tlsfront terminates TLS in front of an http.Handler: the
// certificates, chosen by SNI and reloaded from files without dropping a
// connection, the session ticket keys, rotated, and the protocol settings
// of a *tls.Config to serve with; plus the plain-HTTP side of an HTTPS
// site (a redirect to HTTPS, HSTS) and the client side toward backends
// (ClientTLS: trusted authorities, a client certificate for mTLS).
//
//	front, err := tlsfront.New(tlsfront.Config{Certificates: []tlsfront.Pair{
//		{CertFile: "site.crt", KeyFile: "site.key"},
//		{CertFile: "wild.crt", KeyFile: "wild.key"},
//	}})
//	defer front.Close()
//	ln = tls.NewListener(ln, front.TLSConfig())
//	err = (&httpfront.Server{Handler: tlsfront.HSTS(maxAge, false, h)}).Serve(ctx, ln)
//
// It imports only the standard library, golang.org/x/net,
// golang.org/x/crypto/ocsp and zap: it
// works with net/http's Server as well as package httpfront's, and in any
// program that holds a *tls.Config.
//
// # Choosing a certificate
//
// The server name a client sends (RFC 6066 §3), without a trailing dot
// and in lower case, is looked up among the DNS names (subjectAltName) of
// the certificates served: an exact name first, then a wildcard
// "*.example.com", which covers one label ("www.example.com", not
// "example.com" nor "a.b.example.com"; RFC 6125 §6.4.3). A client that
// sends no name, or one no certificate covers, gets the default
// certificate, the first of Config.Certificates, as nginx's default
// server does; it will fail to verify it unless it expected that name.
// When two certificates cover a name, the earlier one wins. The common
// name is never looked at (as crypto/x509's verification ignores it); a
// certificate without DNS names does not load.
//
// # Automatic certificates
//
// Config.Source adds certificates that are not files: package
// tlsfront/acme's Manager obtains and renews them over ACME. Files win
// for the names they cover, exactly or by wildcard, as in Caddy (which
// does not manage a name a loaded certificate already covers); the
// Source answers the other names; the default stays the first file's,
// and is the Source's (its first name's) when there are no files. A
// Source that is a ChallengeSource also answers TLS-ALPN-01 challenges
// (RFC 8737): a handshake offering only the ALPN protocol "acme-tls/1"
// is given to it, and no other client can negotiate "acme-tls/1".
//
// # Reloading
//
// The files are checked every PollInterval (size and modification time,
// then a hash of the contents) and on each call of Reload (what the
// examples do on SIGHUP). A changed pair is parsed and, when it loads,
// put in service for new handshakes; connections already open keep the
// certificate they were served. A pair that does not load (a key that
// does not match, a half-written file, no DNS names) keeps its previous
// certificate: Reload returns why (ErrLoad) and the failure is logged at
// error level, once per change of the files. Certificates are read by
// each handshake from an immutable snapshot behind an atomic.Pointer, so a
// handshake never waits on a reload.
//
// # Protocol
//
// TLS 1.2 and 1.3 only (RFC 8996 retires 1.0 and 1.1), Go's default
// cipher suites and curves. ALPN offers "h2" then "http/1.1": net/http's
// Server serves h2 connections itself, and package httpfront's Server
// hands them to golang.org/x/net/http2. Session resumption uses ticket
// keys this package makes and rotates every TicketRotation (an hour by
// default), keeping the previous key for decryption for one more period,
// so a stolen key exposes at most two periods of sessions.
//
// # OCSP stapling
//
// A certificate that names an OCSP responder (Authority Information
// Access) and whose file holds its issuer right after it is served with
// the responder's answer stapled (RFC 6066 §8, RFC 6960), fetched with
// golang.org/x/crypto/ocsp at New and on reload, and refreshed halfway to
// its NextUpdate on the poll schedule. A failed refresh keeps the staple
// until its NextUpdate and is retried after five minutes; an expired
// staple is dropped, and a revoked or unknown status drops it at once
// (the certificate is still served, as nginx does; clients decide).
// Config.DisableOCSPStapling turns it off.
//
// HTTP/3 is package tlsfront/h3, which serves over QUIC with a Front's
// certificates and ticket keys; package tlsfront/httpsflags wires files,
// ACME, the redirect listener, HSTS and -http3 for the example programs.
//
// # Concurrency and goroutines
//
// A Front is safe for concurrent use; New starts one goroutine (polling
// and rotation) that Close stops and waits for. Redirect and HSTS return
// handlers safe for concurrent use. ClientTLS is a plain value.
package tlsfront
