package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// errHook: the hook could not answer (connection down, reply 'X', timeout).
var errHook = errors.New("hook unavailable")

// hookWait bounds how long one request waits for its reply: a hung Python
// process must not hold a call (and its caller) for ever.
const hookWait = 120 * time.Second

// settings is what Python's 'h' reply carries.
type settings struct {
	MaxRequestBytes  int64   `json:"max_request_bytes"`
	MaxResponseBytes int64   `json:"max_response_bytes"`
	RecheckSeconds   float64 `json:"recheck_seconds"`
	ConnectTimeout   float64 `json:"connect_timeout"`
	ReadTimeout      float64 `json:"read_timeout"`
	WriteTimeout     float64 `json:"write_timeout"`
	PoolTimeout      float64 `json:"pool_timeout"`
	MaxConnections   int     `json:"max_connections"`
	AllowPrivate     bool    `json:"allow_private"`
	MaxLine          int     `json:"max_line"`
	CAFile           string  `json:"ca_file"`
	StreamFailures   struct {
		Timeout failureSpec `json:"timeout"`
		Error   failureSpec `json:"error"`
	} `json:"stream_failures"`
}

type failureSpec struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Body   string `json:"body"`
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

var frameIDs atomic.Uint32 // ids are unique per process (so per connection too)

// link is one live connection to a hook process. When it drops, it is dead
// for good (Python's per-call state went with it); the hookConn dials a new one.
type link struct {
	conn    net.Conn
	out     chan []byte
	mu      sync.Mutex
	pending map[uint32]chan frame
	closed  bool
	dead    chan struct{}
	once    sync.Once
}

func newLink(conn net.Conn) *link {
	l := &link{
		conn:    conn,
		out:     make(chan []byte, 256),
		pending: make(map[uint32]chan frame),
		dead:    make(chan struct{}),
	}
	go l.reader()
	go l.writer()
	return l
}

func (l *link) kill() {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.pending = nil
		l.mu.Unlock()
		close(l.dead)
		l.conn.Close()
	})
}

func (l *link) alive() bool {
	select {
	case <-l.dead:
		return false
	default:
		return true
	}
}

func (l *link) reader() {
	r := bufio.NewReaderSize(l.conn, 64<<10)
	for {
		f, err := readFrame(r)
		if err != nil {
			l.kill()
			return
		}
		l.mu.Lock()
		ch := l.pending[f.id]
		delete(l.pending, f.id)
		l.mu.Unlock()
		if ch != nil {
			ch <- f // buffered: never blocks
		}
	}
}

func (l *link) writer() {
	w := bufio.NewWriterSize(l.conn, 64<<10)
	for {
		select {
		case b := <-l.out:
			if _, err := w.Write(b); err != nil {
				l.kill()
				return
			}
			for more := len(l.out); more > 0; more-- { // what queued meanwhile goes in the same flush
				if _, err := w.Write(<-l.out); err != nil {
					l.kill()
					return
				}
			}
			if err := w.Flush(); err != nil {
				l.kill()
				return
			}
		case <-l.dead:
			return
		}
	}
}

// request sends one frame and waits for its reply. A reply 'X' (Python could
// not handle the frame), a dead connection or no reply within wait: errHook.
func (l *link) request(kind byte, header, body []byte, wait time.Duration) (frame, error) {
	id := frameIDs.Add(1)
	ch := make(chan frame, 1)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return frame{}, errHook
	}
	l.pending[id] = ch
	l.mu.Unlock()
	select {
	case l.out <- appendFrame(nil, id, kind, header, body):
	case <-l.dead:
		return frame{}, errHook
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case f := <-ch:
		if f.kind == 'X' {
			var e struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(f.header, &e)
			log.Printf("hook refused frame %c: %s", kind, e.Error)
			return frame{}, errHook
		}
		return f, nil
	case <-l.dead:
		return frame{}, errHook
	case <-timer.C:
		l.mu.Lock()
		if l.pending != nil {
			delete(l.pending, id)
		}
		l.mu.Unlock()
		log.Printf("hook gave no reply to frame %c in %s", kind, wait)
		return frame{}, errHook
	}
}

// hookConn keeps one connection to one hook socket up, reconnecting with backoff.
type hookConn struct {
	path string
	cur  atomic.Pointer[link]
}

// pool is the set of hook connections, and the settings the first gave.
type pool struct {
	conns    []*hookConn
	rr       atomic.Uint32
	once     sync.Once
	settings *settings
	ready    chan struct{}
	quit     chan struct{}
	quitOnce sync.Once
}

func newPool(paths []string) *pool {
	p := &pool{ready: make(chan struct{}), quit: make(chan struct{})}
	for _, path := range paths {
		p.conns = append(p.conns, &hookConn{path: path})
	}
	return p
}

func (p *pool) start() {
	for _, h := range p.conns {
		go h.run(p)
	}
}

// stop closes the connections and stops reconnecting.
func (p *pool) stop() { p.quitOnce.Do(func() { close(p.quit) }) }

func (p *pool) setSettings(s *settings) {
	p.once.Do(func() {
		p.settings = s
		close(p.ready)
	})
}

// pick: the next live connection, round-robin; nil when none is up.
func (p *pool) pick() *link {
	n := len(p.conns)
	start := int(p.rr.Add(1))
	for i := 0; i < n; i++ {
		if l := p.conns[(start+i)%n].cur.Load(); l != nil && l.alive() {
			return l
		}
	}
	return nil
}

func (h *hookConn) run(p *pool) {
	backoff := 50 * time.Millisecond
	failing := false
	for {
		err := h.session(p)
		if err != nil && !failing {
			log.Printf("hook %s: %v (reconnecting)", h.path, err)
		}
		failing = err != nil
		if err == nil {
			backoff = 50 * time.Millisecond // it was up: reconnect soon
		}
		select {
		case <-p.quit:
			return
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 2*time.Second {
			backoff = 2 * time.Second
		}
	}
}

// session connects, greets and serves until the connection drops; nil when
// it had been up (the drop is logged here).
func (h *hookConn) session(p *pool) error {
	conn, err := net.DialTimeout("unix", h.path, 5*time.Second)
	if err != nil {
		return err
	}
	l := newLink(conn)
	f, err := l.request('H', []byte("{}"), nil, 30*time.Second)
	if err != nil {
		l.kill()
		return fmt.Errorf("no settings: %w", err)
	}
	if f.kind != 'h' {
		l.kill()
		return fmt.Errorf("reply %q to 'H'", f.kind)
	}
	s := new(settings)
	if err := json.Unmarshal(f.header, s); err != nil {
		l.kill()
		return fmt.Errorf("settings: %w", err)
	}
	p.setSettings(s)
	h.cur.Store(l)
	select {
	case <-l.dead:
	case <-p.quit:
		l.kill()
		h.cur.CompareAndSwap(l, nil)
		return nil
	}
	h.cur.CompareAndSwap(l, nil)
	log.Printf("hook %s: connection lost (reconnecting)", h.path)
	return nil
}
