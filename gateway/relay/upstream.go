package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// errAddressRefused: Python did not approve the address (a private one).
var errAddressRefused = errors.New("address_refused")

// unreachableError: the host could not be resolved or reached.
type unreachableError struct{ msg string }

func (e *unreachableError) Error() string { return "unreachable: " + e.msg }

type linkKey struct{}

// newTransport builds the one upstream transport, from the settings.
func newTransport(s *settings, p *pool) *http.Transport {
	connect := seconds(s.ConnectTimeout)
	write := seconds(s.WriteTimeout)
	dialer := &net.Dialer{Timeout: connect}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		target := addr
		if !s.AllowPrivate {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, &unreachableError{err.Error()}
			}
			ip, err := approve(ctx, p, host, port, connect)
			if err != nil {
				return nil, err
			}
			target = net.JoinHostPort(ip, port)
		}
		conn, err := dialer.DialContext(ctx, network, target)
		if err != nil {
			return nil, err
		}
		if write > 0 {
			return &writeTimeoutConn{Conn: conn, d: write}, nil
		}
		return conn, nil
	}
	maxConns := s.MaxConnections
	if maxConns < 0 {
		maxConns = 0
	}
	t := &http.Transport{
		Proxy:               nil,
		DialContext:         dial,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		TLSHandshakeTimeout: connect,
		DisableCompression:  true,
		MaxIdleConnsPerHost: maxConns,
		MaxConnsPerHost:     maxConns,
		IdleConnTimeout:     30 * time.Second,
		// No ResponseHeaderTimeout: each call times its own head (relay.go).
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if s.CAFile != "" {
		roots := x509.NewCertPool()
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			log.Printf("ca_file %s: %v (https upstreams will fail)", s.CAFile, err)
		} else if !roots.AppendCertsFromPEM(pem) {
			log.Printf("ca_file %s: no certificate found (https upstreams will fail)", s.CAFile)
		}
		t.TLSClientConfig.RootCAs = roots // an unreadable bundle fails closed
	}
	return t
}

// approve asks Python ('D') where host:port may be reached.
func approve(ctx context.Context, p *pool, host, port string, wait time.Duration) (string, error) {
	l, _ := ctx.Value(linkKey{}).(*link)
	if l == nil || !l.alive() {
		l = p.pick()
	}
	if l == nil {
		return "", &unreachableError{"no hook to approve the address"}
	}
	portNum, err := strconv.Atoi(port)
	if err != nil {
		return "", &unreachableError{"bad port " + port}
	}
	header, _ := json.Marshal(struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}{host, portNum})
	if wait <= 0 {
		wait = hookWait
	} else {
		wait += time.Second // Python resolves within connect_timeout: let its answer arrive
	}
	f, err := l.request('D', header, nil, wait)
	if err != nil {
		return "", &unreachableError{"address check: " + err.Error()}
	}
	var reply struct {
		Address string `json:"address"`
		Refused bool   `json:"refused"`
		Error   string `json:"error"`
	}
	if f.kind != 'd' || json.Unmarshal(f.header, &reply) != nil {
		return "", &unreachableError{fmt.Sprintf("address check: reply %q", f.kind)}
	}
	switch {
	case reply.Refused:
		return "", errAddressRefused
	case reply.Error != "" || reply.Address == "":
		return "", &unreachableError{reply.Error}
	}
	return reply.Address, nil
}

// writeTimeoutConn bounds each write (the request going upstream).
type writeTimeoutConn struct {
	net.Conn
	d time.Duration
}

func (c *writeTimeoutConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	return c.Conn.Write(b)
}

// connectErrorKind: the kind of an error before the response head.
func connectErrorKind(err error) string {
	if errors.Is(err, errAddressRefused) {
		return "address_refused"
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "unreachable"
}

var errReadTimeout = errors.New("read_timeout")

// timedBody is the upstream body with a per-read timeout: when no bytes
// arrive for d, the request is cancelled and the read fails errReadTimeout.
// One timer for the whole body, reset per read.
type timedBody struct {
	r     io.ReadCloser
	d     time.Duration
	t     *time.Timer
	fired atomic.Bool
}

func newTimedBody(r io.ReadCloser, d time.Duration, cancel context.CancelFunc) *timedBody {
	b := &timedBody{r: r, d: d}
	if d > 0 {
		b.t = time.AfterFunc(time.Hour, func() {
			b.fired.Store(true)
			cancel()
		})
		b.t.Stop()
	}
	return b
}

func (b *timedBody) Read(p []byte) (int, error) {
	if b.t == nil {
		return b.r.Read(p)
	}
	b.t.Reset(b.d)
	n, err := b.r.Read(p)
	b.t.Stop()
	if err != nil && err != io.EOF && b.fired.Load() {
		err = errReadTimeout
	}
	return n, err
}

func (b *timedBody) Close() error {
	if b.t != nil {
		b.t.Stop()
	}
	return b.r.Close()
}
