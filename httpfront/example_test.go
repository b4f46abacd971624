package httpfront_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"

	"github.com/edgekit/edgekit/httpfront"
)

// A Server in front of a reverse proxy, in place of an http.Server.
func ExampleServer() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the backend")
	}))
	defer backend.Close()
	target, _ := url.Parse(backend.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- (&httpfront.Server{Handler: proxy}).Serve(ctx, ln) }()

	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	client.CloseIdleConnections()
	fmt.Println(resp.Status, string(body))

	stop()
	fmt.Println("Serve:", <-served)
	// Output:
	// 200 OK hello from the backend
	// Serve: <nil>
}

// Where an http.Server needs Shutdown, a Server's Serve takes a context:
// when it ends, Serve stops accepting, lets the request in flight finish
// (up to ShutdownTimeout) and returns.
func ExampleServer_shutdown() {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release // a slow backend
		io.WriteString(w, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- (&httpfront.Server{Handler: h}).Serve(ctx, ln) }()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	answer := make(chan string)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			answer <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- string(body)
	}()
	<-entered
	stop() // the shutdown begins with the request in flight
	close(release)
	fmt.Println(<-answer)
	fmt.Println("Serve:", <-served)
	// Output:
	// finished
	// Serve: <nil>
}
