package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"log"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const chatPath = "/gateway/v1/chat/completions"

// unavailableBody: the answer when the hook cannot check a call.
const unavailableBody = `{"error": {"message": "The gateway cannot check this call; try again.", "type": "api_error", "param": null, "code": "gateway_unavailable"}}`

// settingsWait: how long a call waits for the first hook's settings (the
// relay may start before the hook processes).
const settingsWait = 10 * time.Second

type relay struct {
	pool  *pool
	proxy *httputil.ReverseProxy

	transportOnce sync.Once
	transport     *http.Transport

	background sync.WaitGroup // settlements that outlive their handler
}

func newRelay(p *pool, python *url.URL) *relay {
	rp := httputil.NewSingleHostReverseProxy(python)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &relay{pool: p, proxy: rp}
}

func (rl *relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.EscapedPath() != chatPath {
		rl.proxy.ServeHTTP(w, r)
		return
	}
	rl.chat(w, r)
}

func (rl *relay) upstream(s *settings) *http.Transport {
	rl.transportOnce.Do(func() { rl.transport = newTransport(s, rl.pool) })
	return rl.transport
}

func writeUnavailable(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Retry-After", "1")
	h.Set("Content-Length", strconv.Itoa(len(unavailableBody)))
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, unavailableBody)
}

// writeReply writes a reply 'R' to the caller exactly: its status, every
// header it gives, its body.
func writeReply(w http.ResponseWriter, f frame) error {
	if f.kind != 'R' {
		return errHook
	}
	var reply struct {
		Status  int         `json:"status"`
		Headers [][2]string `json:"headers"`
	}
	if err := json.Unmarshal(f.header, &reply); err != nil || reply.Status < 100 || reply.Status > 999 {
		return errHook
	}
	h := w.Header()
	typed := false
	for _, kv := range reply.Headers {
		h.Add(kv[0], kv[1])
		if strings.EqualFold(kv[0], "Content-Type") {
			typed = true
		}
	}
	if !typed {
		h["Content-Type"] = nil // no sniffed type: the headers are Python's
	}
	w.WriteHeader(reply.Status)
	_, _ = w.Write(f.body)
	return nil
}

// plan is Python's reply 'P'.
type plan struct {
	Call    int64       `json:"call"`
	URL     string      `json:"url"`
	Headers [][2]string `json:"headers"`
	Stream  bool        `json:"stream"`
	Redact  bool        `json:"redact"`
	Fast    *struct {
		Forms    []string `json:"forms"`
		Shortest int      `json:"shortest"`
		Longest  int      `json:"longest"`
	} `json:"fast"`
	// Settings read for this call, as the Python path reads them per call.
	Settings *callSettings `json:"settings"`
}

// callSettings: the settings a plan carries for its own call.
type callSettings struct {
	ConnectTimeout   float64 `json:"connect_timeout"`
	ReadTimeout      float64 `json:"read_timeout"`
	WriteTimeout     float64 `json:"write_timeout"`
	PoolTimeout      float64 `json:"pool_timeout"`
	MaxResponseBytes int64   `json:"max_response_bytes"`
	RecheckSeconds   float64 `json:"recheck_seconds"`
}

// forCall: the settings with a plan's own applied (s itself when it has none).
func (s *settings) forCall(cs *callSettings) *settings {
	if cs == nil {
		return s
	}
	own := *s
	own.ConnectTimeout, own.ReadTimeout, own.WriteTimeout = cs.ConnectTimeout, cs.ReadTimeout, cs.WriteTimeout
	own.PoolTimeout, own.MaxResponseBytes, own.RecheckSeconds = cs.PoolTimeout, cs.MaxResponseBytes, cs.RecheckSeconds
	return &own
}

// call is one chat-completion call's state shared by its stages.
type call struct {
	rl   *relay
	s    *settings
	link *link
	id   int64
	t0   time.Time
	r    *http.Request

	upCtx    context.Context
	upCancel context.CancelFunc
	gone     atomic.Bool // the caller went away (before final_sent)
	final    atomic.Bool // final_sent
	stopWait chan struct{}
}

// watch cancels the upstream request when the caller goes away before
// final_sent; it ends when stop closes.
func (c *call) watch() {
	select {
	case <-c.r.Context().Done():
		if !c.final.Load() {
			c.gone.Store(true)
			c.upCancel()
		}
	case <-c.stopWait:
	}
}

func (c *call) send(kind byte, header any, body []byte) (frame, error) {
	raw, err := json.Marshal(header)
	if err != nil {
		return frame{}, err
	}
	return c.link.request(kind, raw, body, hookWait)
}

func (rl *relay) chat(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	var s *settings
	select {
	case <-rl.pool.ready:
		s = rl.pool.settings
	default:
		timer := time.NewTimer(settingsWait)
		select {
		case <-rl.pool.ready:
			s = rl.pool.settings
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
		timer.Stop()
	}
	if s == nil {
		writeUnavailable(w)
		return
	}
	l := rl.pool.pick()
	if l == nil {
		writeUnavailable(w)
		return
	}

	// 1. the body, bounded
	body, err := io.ReadAll(io.LimitReader(r.Body, s.MaxRequestBytes+1))
	if err != nil {
		return // the caller is gone: nothing to settle
	}
	admission := struct {
		Method        string `json:"method"`
		Path          string `json:"path"`
		Authorization string `json:"authorization"`
		TooLarge      bool   `json:"too_large,omitempty"`
	}{http.MethodPost, chatPath, r.Header.Get("Authorization"), false}
	if int64(len(body)) > s.MaxRequestBytes {
		admission.TooLarge = true
		body = nil
	}
	c := &call{rl: rl, s: s, link: l, t0: t0, r: r}

	// 2. admission
	f, err := c.send('A', admission, body)
	if err != nil {
		writeUnavailable(w)
		return
	}
	if f.kind == 'R' {
		if writeReply(w, f) != nil {
			writeUnavailable(w)
		}
		return
	}
	var p plan
	if f.kind != 'P' || json.Unmarshal(f.header, &p) != nil {
		log.Printf("hook: unexpected reply %q to 'A'", f.kind)
		writeUnavailable(w)
		return
	}
	c.id = p.Call
	transport := rl.upstream(s) // built once, from the first settings
	s = s.forCall(p.Settings)
	c.s = s

	// 3. upstream
	c.upCtx, c.upCancel = context.WithCancel(context.WithValue(context.Background(), linkKey{}, l))
	defer c.upCancel()
	c.stopWait = make(chan struct{})
	go c.watch()
	var stopOnce sync.Once
	stopWatch := func() { stopOnce.Do(func() { close(c.stopWait) }) }
	defer stopWatch()

	// pool_timeout: the wait for a connection (a free one, or a new one,
	// whose connect_timeout counts too) is bounded; the head then has read_timeout.
	var poolTimedOut atomic.Bool
	reqCtx := c.upCtx
	if wait := seconds(s.PoolTimeout) + seconds(s.ConnectTimeout); wait > 0 {
		timer := time.AfterFunc(wait, func() {
			poolTimedOut.Store(true)
			c.upCancel()
		})
		defer timer.Stop()
		reqCtx = httptrace.WithClientTrace(reqCtx, &httptrace.ClientTrace{
			GotConn: func(httptrace.GotConnInfo) { timer.Stop() },
		})
	}
	// read_timeout for the response head, counted from when the request was
	// written (the transport's own ResponseHeaderTimeout is the first call's).
	var headTimedOut atomic.Bool
	stopHead := func() {}
	if wait := seconds(s.ReadTimeout); wait > 0 {
		head := time.AfterFunc(time.Duration(1<<62), func() {
			headTimedOut.Store(true)
			c.upCancel()
		})
		stopHead = func() { head.Stop() }
		reqCtx = httptrace.WithClientTrace(reqCtx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { head.Reset(wait) },
		})
	}
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, p.URL, bytes.NewReader(f.body))
	if err != nil {
		c.finishWhole(w, 0, "unreachable", nil, nil)
		return
	}
	req.Header = make(http.Header, len(p.Headers)+1)
	for _, kv := range p.Headers {
		if strings.EqualFold(kv[0], "Host") {
			req.Host = kv[1]
			continue
		}
		req.Header.Add(kv[0], kv[1])
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // exactly the plan's headers: no Go default
	}
	resp, err := transport.RoundTrip(req)
	stopHead() // the head is in (or the request failed): the body has its own read timeout
	if err != nil {
		if c.gone.Load() {
			c.clientGone()
			return
		}
		kind := connectErrorKind(err)
		if poolTimedOut.Load() || headTimedOut.Load() {
			kind = "timeout"
		}
		c.finishWhole(w, 0, kind, nil, nil)
		return
	}
	if c.gone.Load() {
		resp.Body.Close()
		c.clientGone()
		return
	}
	tb := newTimedBody(resp.Body, seconds(s.ReadTimeout), c.upCancel)
	if !p.Stream || resp.StatusCode != http.StatusOK {
		c.whole(w, resp, tb)
		return
	}
	st := newStream(c, &p, w, resp, tb)
	st.run(stopWatch)
}

// clientGone: the caller left before any response to it started.
func (c *call) clientGone() {
	_, _ = c.send('F', struct {
		Call   int64  `json:"call"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}{c.id, "client_gone", 0}, nil)
}

// whole reads a whole upstream answer and lets Python settle it.
func (c *call) whole(w http.ResponseWriter, resp *http.Response, body *timedBody) {
	defer body.Close()
	limit := c.s.MaxResponseBytes
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	kind := ""
	switch {
	case c.gone.Load():
		c.clientGone()
		return
	case err == nil && int64(len(data)) > limit:
		kind = "too_large"
	case errors.Is(err, errReadTimeout):
		kind = "read_timeout"
	case err != nil:
		kind = "read_error"
	}
	if kind != "" {
		data = nil
	}
	c.finishWhole(w, resp.StatusCode, kind, resp.Header, data)
}

// finishWhole sends 'F' and writes Python's 'R' to the caller.
func (c *call) finishWhole(w http.ResponseWriter, status int, kind string, h http.Header, data []byte) {
	headers := map[string]string{}
	for _, name := range []string{"retry-after", "stagegate-attestation"} {
		if v, ok := h[http.CanonicalHeaderKey(name)]; ok && len(v) > 0 {
			headers[name] = v[0]
		}
	}
	var errField *string
	if kind != "" {
		errField = &kind
	}
	f, err := c.send('F', struct {
		Call    int64             `json:"call"`
		Status  int               `json:"status"`
		Error   *string           `json:"error"`
		Headers map[string]string `json:"headers"`
	}{c.id, status, errField, headers}, data)
	if c.gone.Load() {
		return
	}
	if err != nil || writeReply(w, f) != nil {
		writeUnavailable(w)
	}
}

// failure ends a stream with an error event.
type failure struct {
	status int
	code   string
	body   string
}

// stream relays one event stream (upstream status 200).
type stream struct {
	c       *call
	p       *plan
	w       http.ResponseWriter
	flusher http.Flusher
	resp    *http.Response
	body    *timedBody
	hash    hash.Hash
	fast    *fastPath
	split   splitter

	events     int64
	boundary   bool
	done       bool
	unreadable bool
	buffered   bool
	pyUsed     bool
	readPartly bool
	fail       *failure
	hookFailed bool
	attest     string
	attested   bool

	out []byte
	lh  []byte // scratch: an 'L' header
}

func newStream(c *call, p *plan, w http.ResponseWriter, resp *http.Response, body *timedBody) *stream {
	st := &stream{c: c, p: p, w: w, resp: resp, body: body, hash: sha256.New(), boundary: true}
	st.flusher, _ = w.(http.Flusher)
	st.split.maxLine = c.s.MaxLine
	st.split.plain = !p.Redact
	if st.split.maxLine <= 0 {
		st.split.maxLine = 1 << 20
	}
	if p.Fast != nil {
		st.fast = newFastPath(p.Fast.Forms, p.Fast.Shortest, p.Fast.Longest)
	}
	if v := resp.Header.Values("Stagegate-Attestation"); len(v) > 0 {
		st.attest, st.attested = v[0], true
	}
	return st
}

// write sends bytes to the caller (flushing unless last); false when the caller is gone.
func (st *stream) write(b []byte, flush bool) bool {
	if len(b) > 0 {
		st.hash.Write(b)
		if _, err := st.w.Write(b); err != nil {
			return false
		}
	}
	if flush && st.flusher != nil {
		st.flusher.Flush()
	}
	return st.c.r.Context().Err() == nil
}

func (st *stream) run(stopWatch func()) {
	c := st.c
	h := st.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	st.w.WriteHeader(http.StatusOK)
	callerGone := !st.write(nil, true)

	every := seconds(c.s.RecheckSeconds)
	recheckAt := time.Now().Add(every)
	buf := make([]byte, 32<<10)
	var held []byte
	stoppedEarly := false // [DONE] passed before the upstream's end (redacting)
	for !callerGone {
		n, err := st.body.Read(buf)
		if n > 0 {
			if !time.Now().Before(recheckAt) { // (as in Python, 0 rechecks every chunk)
				withdrawn, ok := st.recheck()
				recheckAt = time.Now().Add(every)
				if !ok {
					st.abort()
					return
				}
				if withdrawn {
					st.readPartly = true
					break
				}
			}
			chunk := buf[:n]
			if st.p.Redact {
				st.out = st.out[:0]
				st.split.feed(chunk, st.redactLine)
				if st.hookFailed {
					st.abort()
					return
				}
				if st.done {
					held = append([]byte(nil), st.out...)
					stoppedEarly = err == nil
					break
				}
				if len(st.out) > 0 && !st.write(st.out, true) {
					callerGone = true
					break
				}
			} else {
				if !st.write(chunk, true) {
					if !c.final.Load() {
						callerGone = true
					}
					break
				}
				st.split.feed(chunk, st.plainLine)
				if st.hookFailed {
					st.abort()
					return
				}
				if st.done {
					c.final.Store(true)
				}
			}
		}
		if err != nil {
			switch {
			case err == io.EOF:
			case c.gone.Load() && !c.final.Load():
				callerGone = true
			case errors.Is(err, errReadTimeout):
				f := c.s.StreamFailures.Timeout
				st.fail = &failure{f.Status, f.Code, f.Body}
			default:
				f := c.s.StreamFailures.Error
				st.fail = &failure{f.Status, f.Code, f.Body}
			}
			break
		}
	}
	if callerGone || (c.gone.Load() && !c.final.Load()) {
		stopWatch()
		st.body.Close()
		st.settleAt(499, "client_disconnected", true, time.Since(c.t0))
		return
	}

	tail := held
	if st.p.Redact && !st.done {
		st.out = st.out[:0]
		if rest := st.split.unfinished(); len(rest) > 0 && st.fail == nil {
			st.redactLine(rest)
		}
		if !st.done && st.pyUsed && st.buffered {
			st.python(nil, 0, true)
		}
		if st.hookFailed {
			st.abort()
			return
		}
		tail = append(tail, st.out...)
	}
	status, code := http.StatusOK, ""
	if st.fail != nil {
		status, code = st.fail.status, st.fail.code
		if !st.boundary && st.p.Redact {
			tail = append(tail, '\n')
		}
		tail = append(tail, "data: "...)
		tail = append(tail, st.fail.body...)
		tail = append(tail, "\n\n"...)
	}
	c.final.Store(true)
	stopWatch()
	st.write(tail, false) // the body's last bytes: they go with its end
	latency := time.Since(c.t0)
	// The response ends when the handler returns; the drain and the
	// settlement follow it.
	c.rl.background.Add(1)
	go func() {
		defer c.rl.background.Done()
		if stoppedEarly && st.fail == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(st.body, c.s.MaxResponseBytes))
		}
		st.body.Close()
		st.settleAt(status, code, st.readPartly, latency)
	}()
}

// abort: the hook failed mid-stream: the stream just ends (cut, so the
// caller sees it broken off rather than complete).
func (st *stream) abort() {
	st.c.final.Store(true)
	st.body.Close()
	if st.c.link.alive() { // Python answered 'X' but keeps the call: settle it
		st.settleAt(503, "gateway_unavailable", true, time.Since(st.c.t0))
	}
	panic(http.ErrAbortHandler)
}

func (st *stream) settleAt(status int, code string, partly bool, latency time.Duration) {
	headers := map[string]string{}
	if st.attested {
		headers["stagegate-attestation"] = st.attest
	}
	_, _ = st.c.send('Z', struct {
		Call           int64             `json:"call"`
		Status         int               `json:"status"`
		ErrorCode      string            `json:"error_code"`
		Events         int64             `json:"events"`
		ReadPartly     bool              `json:"read_partly"`
		FinalSent      bool              `json:"final_sent"`
		Unreadable     bool              `json:"unreadable"`
		LatencyMS      float64           `json:"latency_ms"`
		ResponseSHA256 string            `json:"response_sha256"`
		Headers        map[string]string `json:"headers"`
	}{
		st.c.id, status, code, st.events, partly, st.c.final.Load(),
		st.unreadable || st.split.unreadable, float64(latency.Microseconds()) / 1000,
		hex.EncodeToString(st.hash.Sum(nil)), headers,
	}, nil)
}

// recheck asks Python whether the call's grant still stands; ok false when
// the hook failed.
func (st *stream) recheck() (withdrawn, ok bool) {
	f, err := st.c.send('C', struct {
		Call int64 `json:"call"`
	}{st.c.id}, nil)
	if err != nil || f.kind != 'c' {
		return false, false
	}
	var reply struct {
		Withdrawn bool   `json:"withdrawn"`
		Status    int    `json:"status"`
		Code      string `json:"code"`
	}
	if json.Unmarshal(f.header, &reply) != nil {
		return false, false
	}
	if reply.Withdrawn {
		st.fail = &failure{reply.Status, reply.Code, string(f.body)}
	}
	return reply.Withdrawn, true
}

var (
	dataPrefix = []byte("data:")
	doneMarker = []byte("[DONE]")
	usageKey   = []byte(`"usage"`)
	doneEvent  = []byte("data: [DONE]\n\n")
)

// plainLine scans a line of a stream passed on as it came (no redaction):
// it only counts events and lets Python read usage.
func (st *stream) plainLine(line []byte) bool {
	if !bytes.HasPrefix(line, dataPrefix) {
		return true
	}
	payload := trimSpace(line[5:])
	if bytes.Equal(payload, doneMarker) {
		st.done = true
		return true
	}
	if len(payload) == 0 || payload[0] != '{' {
		return true
	}
	if bytes.Contains(payload, usageKey) {
		reply, _, ok := st.hookLine(line, 1, false)
		if !ok {
			st.hookFailed = true
			return false
		}
		st.events = reply.Events
		st.unreadable = st.unreadable || reply.Unreadable
		return true
	}
	st.events++
	return true
}

// redactLine applies the line rule to one line, appending to st.out.
func (st *stream) redactLine(line []byte) bool {
	if st.done || st.hookFailed {
		return false
	}
	if st.buffered {
		return st.python(line, 1, false)
	}
	if !bytes.HasPrefix(line, dataPrefix) {
		if len(trimSpace(line)) == 0 {
			st.out = append(st.out, '\n')
			st.boundary = true
			return true
		}
		return st.text(line)
	}
	payload := trimSpace(line[5:])
	if bytes.Equal(payload, doneMarker) {
		if st.pyUsed && st.buffered {
			return st.python(line, 1, false)
		}
		st.done = true
		st.out = append(st.out, doneEvent...)
		return false
	}
	if len(payload) == 0 || payload[0] != '{' {
		return st.text(line)
	}
	if !bytes.Contains(payload, usageKey) && st.fast.eventFast(payload) {
		st.events++
		st.out = append(append(st.out, line...), '\n')
		st.boundary = false
		return true
	}
	return st.python(line, 1, false)
}

func (st *stream) text(line []byte) bool {
	if st.fast.textFast(line) {
		st.out = append(append(st.out, line...), '\n')
		st.boundary = false
		return true
	}
	return st.python(line, 1, false)
}

type lineReply struct {
	Events     int64 `json:"events"`
	Boundary   bool  `json:"boundary"`
	Done       bool  `json:"done"`
	Buffered   bool  `json:"buffered"`
	Unreadable bool  `json:"unreadable"`
}

// hookLine sends 'L' and reads its 'O'.
func (st *stream) hookLine(body []byte, count int, end bool) (lineReply, []byte, bool) {
	h := append(st.lh[:0], `{"call": `...)
	h = strconv.AppendInt(h, st.c.id, 10)
	h = append(h, `, "events": `...)
	h = strconv.AppendInt(h, st.events, 10)
	h = append(h, `, "boundary": `...)
	h = strconv.AppendBool(h, st.boundary)
	h = append(h, `, "count": `...)
	h = strconv.AppendInt(h, int64(count), 10)
	h = append(h, `, "end": `...)
	h = strconv.AppendBool(h, end)
	h = append(h, `, "failed": `...)
	h = strconv.AppendBool(h, st.fail != nil)
	h = append(h, '}')
	st.lh = h
	var reply lineReply
	f, err := st.c.link.request('L', h, body, hookWait)
	if err != nil || f.kind != 'O' || json.Unmarshal(f.header, &reply) != nil {
		return reply, nil, false
	}
	return reply, f.body, true
}

// python lets Python decide a line (or, end, the stream's end).
func (st *stream) python(line []byte, count int, end bool) bool {
	reply, body, ok := st.hookLine(line, count, end)
	if !ok {
		st.hookFailed = true
		return false
	}
	st.events = reply.Events
	st.boundary = reply.Boundary
	st.done = reply.Done
	st.buffered = reply.Buffered
	st.unreadable = st.unreadable || reply.Unreadable
	st.pyUsed = true
	st.out = append(st.out, body...)
	return !st.done
}
