// Package h1 is the HTTP/1.1 client transport edgekit's proxies use to
// reach backends and origins: a pool of keep-alive connections driven on
// the caller's goroutine for the requests a proxy forwards most (plain
// http, idempotent, no body, no upgrade), with http.Transport behind it
// for everything else. See Transport.
package h1
