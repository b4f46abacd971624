// Package h1 is the HTTP/1.1 client transport edgekit's proxies use to
// reach backends and origins: a pool of keep-alive connections driven on
// the caller's goroutine for the requests a proxy forwards most (plain
// http, idempotent, no body, no upgrade), reused only when nothing has
// arrived on them since their last response; other plain-http requests
// go to http.Transport with one connection per exchange, https ones to
// http.Transport. See Transport.
package h1
