// Command floor is a benchmark floor, not part of the product: Go's own
// reverse proxy (net/http/httputil) passing the gateway's chat route to the
// upstream with none of the gateway's work, its transport set as the relay's
// (gateway/relay/upstream.go). bench/gateway runs it with --data-plane go to
// show what Go's HTTP stack costs by itself on the machine, beside nginx's
// (--data-plane nginx) and the gateway's figures in the same run.
//
//	floor LISTEN_ADDRESS UPSTREAM_BASE_URL
package main

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: floor LISTEN_ADDRESS UPSTREAM_BASE_URL")
	}
	upstream, err := url.Parse(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			// The whole body first, as the relay reads it (the gateway checks
			// it before calling the upstream): a body still being read once the
			// answer streams back would break the call in Go's HTTP/1 server.
			body, err := io.ReadAll(r.Body)
			if err != nil {
				body = nil
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			r.URL.Scheme, r.URL.Host = upstream.Scheme, upstream.Host
			r.URL.Path = upstream.Path + strings.TrimPrefix(r.URL.Path, "/gateway/v1")
			r.Host = upstream.Host
		},
		FlushInterval: -1, // each event as it comes, as the gateway passes streams on
		Transport: &http.Transport{
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	log.Fatal(http.ListenAndServe(os.Args[1], proxy))
}
