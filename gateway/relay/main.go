// Command stagegate-relay carries the per-event work of the Stagegate
// gateway's chat-completion calls (streamed ones above all) at low CPU. Every
// rule stays in Python: the relay asks the Python hook processes over unix
// sockets at admission and settlement, and does itself only the byte relay
// and a conservative fast path of the credential-redaction check. Every other
// request is reverse-proxied to the Python gateway unchanged.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address callers connect to")
	hooks := flag.String("hook", "", "the Python hook processes' unix sockets, comma-separated")
	python := flag.String("python", "", "the Python gateway's base URL (every other request goes there)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.LUTC)
	log.SetOutput(os.Stderr)
	log.SetPrefix("stagegate-relay: ")

	var paths []string
	for _, p := range strings.Split(*hooks, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		log.Fatal("-hook: at least one unix socket is needed")
	}
	target, err := url.Parse(*python)
	if err != nil || target.Scheme == "" || target.Host == "" {
		log.Fatalf("-python: a base URL such as http://127.0.0.1:8000 is needed (got %q)", *python)
	}

	p := newPool(paths)
	p.start()
	rl := newRelay(p, target)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Handler:           rl,
		ReadHeaderTimeout: 60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.Default(),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("stagegate-relay listening on %s\n", ln.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-stop:
	case err := <-served:
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Printf("shutdown: %v", err)
	}
	settled := make(chan struct{})
	go func() { rl.background.Wait(); close(settled) }()
	select {
	case <-settled:
	case <-ctx.Done():
	}
	os.Exit(0)
}
