package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHook serves the hook framing on a unix socket, as the Python hook
// does: 'H' gets the settings, every other frame goes to handle.
type fakeHook struct {
	t        *testing.T
	path     string
	settings map[string]any
	handle   func(f frame) (byte, any, []byte)
	mu       sync.Mutex
	got      []frame
	seen     chan frame // every frame but 'H', in order
}

func defaultSettings() map[string]any {
	return map[string]any{
		"max_request_bytes": 1 << 20, "max_response_bytes": 1 << 20, "recheck_seconds": 60.0,
		"connect_timeout": 2.0, "read_timeout": 2.0, "write_timeout": 2.0, "pool_timeout": 2.0,
		"max_connections": 10, "allow_private": true, "max_line": 1 << 20, "ca_file": "",
		"stream_failures": map[string]any{
			"timeout": map[string]any{"status": 504, "code": "upstream_timeout", "body": `{"error": {"code": "upstream_timeout"}}`},
			"error":   map[string]any{"status": 502, "code": "upstream_error", "body": `{"error": {"code": "upstream_error"}}`},
		},
	}
}

func startHook(t *testing.T, handle func(f frame) (byte, any, []byte)) *fakeHook {
	h := &fakeHook{t: t, path: filepath.Join(t.TempDir(), "h.sock"), settings: defaultSettings(),
		handle: handle, seen: make(chan frame, 1000)}
	ln, err := net.Listen("unix", h.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
			go h.serve(conn)
		}
	}()
	return h
}

func (h *fakeHook) serve(conn net.Conn) {
	r := bufio.NewReader(conn)
	for {
		f, err := readFrame(r)
		if err != nil {
			return
		}
		var kind byte
		var header any
		var body []byte
		if f.kind == 'H' {
			h.mu.Lock()
			kind, header = 'h', h.settings
			h.mu.Unlock()
		} else {
			h.mu.Lock()
			h.got = append(h.got, f)
			h.mu.Unlock()
			h.seen <- f
			kind, header, body = h.handle(f)
		}
		raw, _ := json.Marshal(header)
		if _, err := conn.Write(appendFrame(nil, f.id, kind, raw, body)); err != nil {
			return
		}
	}
}

// next: the next frame the hook received (not 'H').
func (h *fakeHook) next(kind byte) frame {
	h.t.Helper()
	select {
	case f := <-h.seen:
		if f.kind != kind {
			h.t.Fatalf("hook got %q (%s), want %q", f.kind, f.header, kind)
		}
		return f
	case <-time.After(5 * time.Second):
		h.t.Fatalf("hook got no %q", kind)
	}
	return frame{}
}

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return m
}

// startRelay serves a relay over the hook, with python as the Python gateway.
func startRelay(t *testing.T, h *fakeHook, python string) *httptest.Server {
	p := newPool([]string{h.path})
	p.start()
	t.Cleanup(p.stop)
	select {
	case <-p.ready:
	case <-time.After(5 * time.Second):
		t.Fatal("no settings from the hook")
	}
	for p.pick() == nil {
		time.Sleep(time.Millisecond)
	}
	if python == "" {
		python = "http://127.0.0.1:1"
	}
	u, _ := url.Parse(python)
	rl := newRelay(p, u)
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)
	return srv
}

func planFor(upstream string, stream, redact bool, fast any) map[string]any {
	return map[string]any{
		"call": 41, "url": upstream + "/v1/chat/completions", "stream": stream, "redact": redact, "fast": fast,
		"headers": [][2]string{{"Content-Type", "application/json"}, {"Accept-Encoding", "identity"},
			{"Authorization", "Bearer sk-lab-secret-1234"}},
	}
}

var testFastData = map[string]any{"forms": testForms, "shortest": 18, "longest": 24}

func post(t *testing.T, srv *httptest.Server, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+chatPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sg-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// (a) a refusal passes through byte for byte with its headers.
func TestRefusal(t *testing.T) {
	refusal := `{"error": {"message": "No such token.", "type": "invalid_request_error", "param": null, "code": "invalid_token"}}`
	h := startHook(t, func(f frame) (byte, any, []byte) {
		return 'R', map[string]any{"status": 401, "headers": [][2]string{
			{"content-type", "application/json"}, {"content-length", fmt.Sprint(len(refusal))},
			{"www-authenticate", "Bearer"}, {"x-stagegate-note", "a"}, {"x-stagegate-note", "b"}}}, []byte(refusal)
	})
	srv := startRelay(t, h, "")
	resp := post(t, srv, `{"model": "m"}`)
	body := readAll(t, resp)
	if resp.StatusCode != 401 || body != refusal || resp.Header.Get("Content-Type") != "application/json" ||
		resp.Header.Get("Www-Authenticate") != "Bearer" || resp.ContentLength != int64(len(refusal)) ||
		strings.Join(resp.Header.Values("X-Stagegate-Note"), ",") != "a,b" {
		t.Fatalf("%d %v %q", resp.StatusCode, resp.Header, body)
	}
	a := h.next('A')
	m := decode(t, a.header)
	if m["method"] != "POST" || m["path"] != chatPath || m["authorization"] != "Bearer sg-token" || m["too_large"] != nil {
		t.Fatalf("A header %s", a.header)
	}
	if string(a.body) != `{"model": "m"}` {
		t.Fatalf("A body %q", a.body)
	}
}

func TestTooLargeAndUnavailable(t *testing.T) {
	h := startHook(t, func(f frame) (byte, any, []byte) {
		if decode(t, f.header)["too_large"] == true {
			return 'R', map[string]any{"status": 413, "headers": [][2]string{{"content-length", "2"}}}, []byte("{}")
		}
		return 'X', map[string]any{"error": "cannot"}, nil
	})
	h.settings["max_request_bytes"] = 10
	srv := startRelay(t, h, "")
	resp := post(t, srv, `{"model": "too long"}`)
	if readAll(t, resp); resp.StatusCode != 413 {
		t.Fatalf("too large: %d", resp.StatusCode)
	}
	if a := h.next('A'); len(a.body) != 0 {
		t.Fatalf("too large: body %q went to Python", a.body)
	}
	resp = post(t, srv, `{}`)
	body := readAll(t, resp)
	if resp.StatusCode != 503 || body != unavailableBody || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("X reply: %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

// (b) a whole answer goes 'A', 'F', and the 'R' reaches the caller.
func TestWholeAnswer(t *testing.T) {
	answer := `{"id": "chatcmpl-1", "choices": [{"message": {"content": "Hi"}}], "usage": {"total_tokens": 3}}`
	var upHeaders http.Header
	var upBody []byte
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upHeaders = r.Header.Clone()
		upBody, _ = io.ReadAll(r.Body)
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Stagegate-Attestation", "att-1")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	defer up.Close()
	h := startHook(t, func(f frame) (byte, any, []byte) {
		switch f.kind {
		case 'A':
			return 'P', planFor(up.URL, false, true, nil), []byte(`{"model": "upstream-model"}`)
		case 'F':
			return 'R', map[string]any{"status": 200, "headers": [][2]string{
				{"content-type", "application/json"}, {"content-length", "11"}}}, []byte(`{"ok": true}`[:11])
		}
		return 'X', map[string]any{"error": "?"}, nil
	})
	srv := startRelay(t, h, "")
	resp := post(t, srv, `{"model": "m"}`)
	if body := readAll(t, resp); resp.StatusCode != 200 || body != `{"ok": true` {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	h.next('A')
	f := h.next('F')
	m := decode(t, f.header)
	want := map[string]any{"call": 41.0, "status": 200.0, "error": nil,
		"headers": map[string]any{"retry-after": "7", "stagegate-attestation": "att-1"}}
	if fmt.Sprint(m) != fmt.Sprint(want) || string(f.body) != answer {
		t.Fatalf("F %s %q", f.header, f.body)
	}
	if string(upBody) != `{"model": "upstream-model"}` || upHeaders.Get("Authorization") != "Bearer sk-lab-secret-1234" ||
		upHeaders.Get("Accept-Encoding") != "identity" || upHeaders.Get("User-Agent") != "" {
		t.Fatalf("upstream got %v %q", upHeaders, upBody)
	}
}

// Connect-stage errors go as 'F' with status 0; the address check asks 'D'.
func TestAddressCheck(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{}`)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	_, port, _ := net.SplitHostPort(u.Host)
	var refuse bool
	h := startHook(t, func(f frame) (byte, any, []byte) {
		switch f.kind {
		case 'A':
			return 'P', planFor("http://model.example:"+port, false, true, nil), []byte(`{}`)
		case 'D':
			if refuse {
				return 'd', map[string]any{"refused": true}, nil
			}
			return 'd', map[string]any{"address": "127.0.0.1"}, nil
		case 'F':
			return 'R', map[string]any{"status": 200, "headers": [][2]string{{"content-length", "0"}}}, nil
		}
		return 'X', map[string]any{"error": "?"}, nil
	})
	h.settings["allow_private"] = false
	srv := startRelay(t, h, "")
	readAll(t, post(t, srv, `{}`))
	h.next('A')
	if m := decode(t, h.next('D').header); m["host"] != "model.example" || fmt.Sprint(m["port"]) != port {
		t.Fatalf("D %v", m)
	}
	if m := decode(t, h.next('F').header); m["status"] != 200.0 || m["error"] != nil {
		t.Fatalf("F %v", m)
	}
	refuse = true
	srv.Client().Transport.(*http.Transport).CloseIdleConnections()
	// a new host name (so a new connection): refused
	h.handle = func(f frame) (byte, any, []byte) {
		switch f.kind {
		case 'A':
			return 'P', planFor("http://other.example:"+port, false, true, nil), []byte(`{}`)
		case 'D':
			return 'd', map[string]any{"refused": true}, nil
		case 'F':
			return 'R', map[string]any{"status": 403, "headers": [][2]string{{"content-length", "0"}}}, nil
		}
		return 'X', map[string]any{"error": "?"}, nil
	}
	resp := post(t, srv, `{}`)
	if readAll(t, resp); resp.StatusCode != 403 {
		t.Fatalf("refused: %d", resp.StatusCode)
	}
	h.next('A')
	h.next('D')
	if m := decode(t, h.next('F').header); m["status"] != 0.0 || m["error"] != "address_refused" {
		t.Fatalf("F %v", m)
	}
}

// sse serves the chunks one write and flush each, with pause between.
func sse(chunks []string, pause time.Duration, hold chan struct{}) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Stagegate-Attestation", "att-s")
		w.WriteHeader(200)
		for _, c := range chunks {
			io.WriteString(w, c)
			w.(http.Flusher).Flush()
			time.Sleep(pause)
		}
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
	}))
}

func streamHook(t *testing.T, upURL string, redact bool, fast any, lines func(f frame) (byte, any, []byte)) *fakeHook {
	return startHook(t, func(f frame) (byte, any, []byte) {
		switch f.kind {
		case 'A':
			return 'P', planFor(upURL, true, redact, fast), []byte(`{"stream": true}`)
		case 'Z':
			return 'z', map[string]any{}, nil
		case 'L', 'C':
			if lines != nil {
				return lines(f)
			}
		}
		return 'X', map[string]any{"error": "unexpected"}, nil
	})
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func ev(content string) string { return "data: " + event(content) + "\n\n" }

// (c) a redacted stream of ordinary events passes unchanged, with [DONE].
func TestRedactedStreamFast(t *testing.T) {
	chunks := []string{ev("Hello"), ev(" world"), ": keep-alive\n\n", ev("!") + "data: [DONE]\n\n", "data: after\n\n"}
	up := sse(chunks, time.Millisecond, nil)
	defer up.Close()
	h := streamHook(t, up.URL, true, testFastData, nil)
	srv := startRelay(t, h, "")
	resp := post(t, srv, `{}`)
	body := readAll(t, resp)
	want := strings.Join(chunks[:4], "")
	if resp.StatusCode != 200 || body != want || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" ||
		resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("%d %v\n%q", resp.StatusCode, resp.Header, body)
	}
	h.next('A')
	z := decode(t, h.next('Z').header)
	if z["status"] != 200.0 || z["error_code"] != "" || z["events"] != 3.0 || z["final_sent"] != true ||
		z["read_partly"] != false || z["unreadable"] != false || z["response_sha256"] != sum(body) ||
		fmt.Sprint(z["headers"]) != "map[stagegate-attestation:att-s]" || z["call"] != 41.0 {
		t.Fatalf("Z %v", z)
	}
}

// (d) an event holding a form of the credential goes to Python, and
// Python's bytes replace it.
func TestRedactedStreamPython(t *testing.T) {
	secret := ev("key sk-lab-secret-1234")
	chunks := []string{ev("Hello"), secret, ev("yes") + "data: [DONE]\n\n"}
	up := sse(chunks, time.Millisecond, nil)
	defer up.Close()
	replaced := "data: " + event("key [REDACTED]") + "\n"
	h := streamHook(t, up.URL, true, testFastData, func(f frame) (byte, any, []byte) {
		m := decode(t, f.header)
		switch string(f.body) {
		case strings.TrimSuffix(secret, "\n\n"):
			return 'O', map[string]any{"events": m["events"].(float64) + 1, "boundary": false, "done": false,
				"buffered": false, "unreadable": false}, []byte(replaced)
		case "data: " + event("yes"): // ends in a form's first byte: Python
			return 'O', map[string]any{"events": m["events"].(float64) + 1, "boundary": false, "done": false,
				"buffered": false, "unreadable": false}, append(f.body, '\n')
		}
		t.Errorf("unexpected L %s %q", f.header, f.body)
		return 'X', map[string]any{"error": "?"}, nil
	})
	srv := startRelay(t, h, "")
	body := readAll(t, post(t, srv, `{}`))
	want := ev("Hello") + replaced + "\n" + ev("yes") + "data: [DONE]\n\n"
	if body != want {
		t.Fatalf("got\n%q\nwant\n%q", body, want)
	}
	h.next('A')
	l := decode(t, h.next('L').header)
	if l["events"] != 1.0 || l["boundary"] != true || l["count"] != 1.0 || l["end"] != false || l["failed"] != false {
		t.Fatalf("L %v", l)
	}
	h.next('L')
	if z := decode(t, h.next('Z').header); z["events"] != 3.0 || z["response_sha256"] != sum(body) {
		t.Fatalf("Z %v", z)
	}
}

// Without fast data every event goes to Python; Python may hold text back
// (buffered), and then the stream's end asks it for the rest.
func TestRedactedStreamBufferedEnd(t *testing.T) {
	chunks := []string{"data: {\"a\": 1}\n\n", "data: {\"b\": 2}\n\n", "data: {\"c\""} // no [DONE], unfinished last line
	up := sse(chunks, time.Millisecond, nil)
	defer up.Close()
	var mu sync.Mutex
	var bodies []string
	h := streamHook(t, up.URL, true, nil, func(f frame) (byte, any, []byte) {
		mu.Lock()
		bodies = append(bodies, string(f.body))
		mu.Unlock()
		m := decode(t, f.header)
		events := m["events"].(float64)
		if m["end"] == true {
			return 'O', map[string]any{"events": events, "boundary": true, "done": false, "buffered": false,
				"unreadable": false}, []byte("data: {\"held\": true}\n\n")
		}
		if strings.HasPrefix(string(f.body), "data:") {
			events++
		}
		return 'O', map[string]any{"events": events, "boundary": f.body == nil, "done": false, "buffered": true,
			"unreadable": false}, nil
	})
	srv := startRelay(t, h, "")
	body := readAll(t, post(t, srv, `{}`))
	if body != "data: {\"held\": true}\n\n" {
		t.Fatalf("%q", body)
	}
	h.next('A')
	for i := 0; i < 5; i++ {
		h.next('L')
	}
	end := decode(t, h.next('L').header)
	if end["count"] != 0.0 || end["end"] != true || end["failed"] != false {
		t.Fatalf("end L %v", end)
	}
	z := decode(t, h.next('Z').header)
	if z["events"] != 3.0 || z["status"] != 200.0 {
		t.Fatalf("Z %v", z)
	}
	want := []string{`data: {"a": 1}`, "", `data: {"b": 2}`, "", `data: {"c"`, ""}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Fatalf("L bodies %q", bodies)
	}
}

// (e) lines cut between chunks, and \r\n line ends, made \n when redacting.
func TestRedactedStreamLineEnds(t *testing.T) {
	whole := "data: " + event("Hel") + "\r\n\r\n: c\rdata: " + event("lo") + "\r\n\r\ndata: [DONE]\r\n\r\n"
	var chunks []string
	for i := 0; i < len(whole); i += 7 {
		chunks = append(chunks, whole[i:min(i+7, len(whole))])
	}
	// a cut right between \r and \n
	at := strings.Index(whole, "\r\n")
	chunks2 := []string{whole[:at+1], whole[at+1:]}
	want := "data: " + event("Hel") + "\n\n: c\ndata: " + event("lo") + "\n\ndata: [DONE]\n\n"
	for _, cs := range [][]string{chunks, chunks2} {
		up := sse(cs, 0, nil)
		h := streamHook(t, up.URL, true, testFastData, nil)
		srv := startRelay(t, h, "")
		if body := readAll(t, post(t, srv, `{}`)); body != want {
			t.Fatalf("got\n%q\nwant\n%q", body, want)
		}
		h.next('A')
		if z := decode(t, h.next('Z').header); z["events"] != 2.0 {
			t.Fatalf("Z %v", z)
		}
		up.Close()
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// Not redacting: the bytes pass as they came; events are counted, usage
// lines go to Python.
func TestPlainStream(t *testing.T) {
	usage := `data: {"choices": [], "usage": {"total_tokens": 9}}`
	chunks := []string{"data: {\"a\": 1}\r\n\r", "\ndata: {\"b\"", ": 2}\r\n\r\n", usage + "\n\n", "data: [DONE]\n\n"}
	up := sse(chunks, time.Millisecond, nil)
	defer up.Close()
	h := streamHook(t, up.URL, false, nil, func(f frame) (byte, any, []byte) {
		if string(f.body) != usage {
			t.Errorf("L %q", f.body)
		}
		m := decode(t, f.header)
		return 'O', map[string]any{"events": m["events"].(float64) + 1, "boundary": true, "done": false,
			"buffered": false, "unreadable": true}, []byte("ignored")
	})
	srv := startRelay(t, h, "")
	body := readAll(t, post(t, srv, `{}`))
	if body != strings.Join(chunks, "") {
		t.Fatalf("%q", body)
	}
	h.next('A')
	if l := decode(t, h.next('L').header); l["events"] != 2.0 {
		t.Fatalf("L %v", l)
	}
	z := decode(t, h.next('Z').header)
	if z["events"] != 3.0 || z["unreadable"] != true || z["final_sent"] != true || z["response_sha256"] != sum(body) {
		t.Fatalf("Z %v", z)
	}
}

// (f) a caller that goes away mid-stream: 'Z' with 499.
func TestCallerGone(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	upGone := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, ev("Hello"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(upGone)
	}))
	defer up.Close()
	h := streamHook(t, up.URL, true, testFastData, nil)
	srv := startRelay(t, h, "")
	resp := post(t, srv, `{}`)
	buf := make([]byte, len(ev("Hello")))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	h.next('A')
	z := decode(t, h.next('Z').header)
	if z["status"] != 499.0 || z["error_code"] != "client_disconnected" || z["read_partly"] != true ||
		z["final_sent"] != false || z["events"] != 1.0 || z["response_sha256"] != sum(string(buf)) {
		t.Fatalf("Z %v", z)
	}
	select {
	case <-upGone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not cancelled")
	}
}

// Mid-stream: a read timeout ends the stream with the timeout's event; a
// withdrawn grant with Python's.
func TestStreamFailures(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	up := sse([]string{"data: " + event("Hel")}, 0, hold) // the line unfinished, then silence
	defer up.Close()
	h := streamHook(t, up.URL, true, testFastData, nil)
	h.settings["read_timeout"] = 0.2
	srv := startRelay(t, h, "")
	body := readAll(t, post(t, srv, `{}`))
	if body != "data: {\"error\": {\"code\": \"upstream_timeout\"}}\n\n" {
		t.Fatalf("timeout: %q", body)
	}
	h.next('A')
	if z := decode(t, h.next('Z').header); z["status"] != 504.0 || z["error_code"] != "upstream_timeout" || z["read_partly"] != false {
		t.Fatalf("Z %v", z)
	}

	up2 := sse([]string{ev("a"), ev("b"), ev("c")}, 30*time.Millisecond, nil)
	defer up2.Close()
	h2 := streamHook(t, up2.URL, true, testFastData, func(f frame) (byte, any, []byte) {
		return 'c', map[string]any{"withdrawn": true, "status": 403, "code": "grant_withdrawn"}, []byte(`{"error": "w"}`)
	})
	h2.settings["recheck_seconds"] = 0.01
	srv2 := startRelay(t, h2, "")
	body = readAll(t, post(t, srv2, `{}`))
	if body != ev("a")+"data: {\"error\": \"w\"}\n\n" {
		t.Fatalf("withdrawn: %q", body)
	}
	h2.next('A')
	h2.next('C')
	if z := decode(t, h2.next('Z').header); z["status"] != 403.0 || z["error_code"] != "grant_withdrawn" ||
		z["read_partly"] != true || z["events"] != 1.0 {
		t.Fatalf("Z %v", z)
	}
}

// A stream plan whose upstream answers an error status is read whole.
func TestStreamErrorStatus(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(429)
		io.WriteString(w, `{"error": "slow down"}`)
	}))
	defer up.Close()
	h := startHook(t, func(f frame) (byte, any, []byte) {
		if f.kind == 'A' {
			return 'P', planFor(up.URL, true, true, testFastData), nil
		}
		return 'R', map[string]any{"status": 429, "headers": [][2]string{{"content-length", "0"}}}, nil
	})
	srv := startRelay(t, h, "")
	if resp := post(t, srv, `{}`); resp.StatusCode != 429 {
		t.Fatalf("%d", resp.StatusCode)
	}
	h.next('A')
	f := h.next('F')
	if m := decode(t, f.header); m["status"] != 429.0 || string(f.body) != `{"error": "slow down"}` {
		t.Fatalf("F %v %q", m, f.body)
	}
}

// (g) every other request is reverse-proxied to Python unchanged.
func TestProxied(t *testing.T) {
	py := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Python", "yes")
		w.WriteHeader(201)
		fmt.Fprintf(w, "%s %s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Host, body)
	}))
	defer py.Close()
	h := startHook(t, func(f frame) (byte, any, []byte) {
		t.Errorf("the hook was asked: %q", f.kind)
		return 'X', map[string]any{"error": "?"}, nil
	})
	srv := startRelay(t, h, py.URL)
	srvHost := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/gateway/v1/models?x=1", ""},
		{"POST", "/gateway/v1/responses", "payload"},
		{"GET", chatPath, ""},
		{"POST", chatPath + "/", "p"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer t")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, resp)
		want := fmt.Sprintf("%s %s Bearer t %s %s", c.method, c.path, srvHost, c.body)
		if resp.StatusCode != 201 || got != want || resp.Header.Get("X-Python") != "yes" {
			t.Fatalf("%d %q, want %q", resp.StatusCode, got, want)
		}
	}
	_ = bytes.MinRead
}

// Errors before the head, and while reading a whole answer, go as 'F' kinds.
func TestWholeFailures(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "http://" + closed.Addr().String()
	closed.Close()
	hold := make(chan struct{})
	defer close(hold)
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, `{"partial`)
		w.(http.Flusher).Flush()
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	defer stall.Close()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 101))
	}))
	defer big.Close()

	var target string
	h := startHook(t, func(f frame) (byte, any, []byte) {
		if f.kind == 'A' {
			return 'P', planFor(target, false, true, nil), nil
		}
		return 'R', map[string]any{"status": 502, "headers": [][2]string{{"content-length", "0"}}}, nil
	})
	h.settings["read_timeout"] = 0.3
	h.settings["max_response_bytes"] = 100
	srv := startRelay(t, h, "")
	for _, c := range []struct{ url, kind string }{
		{"http://" + silent.Addr().String(), "timeout"},
		{closedURL, "unreachable"},
		{stall.URL, "read_timeout"},
		{big.URL, "too_large"},
	} {
		target = c.url
		if resp := post(t, srv, `{}`); resp.StatusCode != 502 {
			t.Fatalf("%s: %d", c.kind, resp.StatusCode)
		}
		h.next('A')
		f := h.next('F')
		m := decode(t, f.header)
		if m["error"] != c.kind || len(f.body) != 0 {
			t.Fatalf("%s: F %v %q", c.kind, m, f.body)
		}
		if status := m["status"]; (c.kind == "timeout" || c.kind == "unreachable") != (status == 0.0) {
			t.Fatalf("%s: status %v", c.kind, status)
		}
	}
}

// A hook connection that drops fails its waiting calls (503 before a
// response started; a started stream is cut); the relay reconnects.
func TestHookDrops(t *testing.T) {
	up := sse([]string{ev("Hello"), ev("yes"), ev("more") + "data: [DONE]\n\n"}, 20*time.Millisecond, nil)
	defer up.Close()
	var mu sync.Mutex
	drop := "A"
	var conns []net.Conn
	h := startHook(t, nil)
	h.handle = func(f frame) (byte, any, []byte) {
		mu.Lock()
		d := drop
		mu.Unlock()
		if string(f.kind) == d {
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			return 'X', map[string]any{"error": "gone"}, nil
		}
		if f.kind == 'A' {
			return 'P', planFor(up.URL, true, true, testFastData), nil
		}
		return 'z', map[string]any{}, nil
	}
	// keep the hook's server-side connections, to drop them
	ln, err := net.Listen("unix", h.path+"2")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go h.serve(c)
		}
	}()
	h.path += "2"
	srv := startRelay(t, h, "")

	resp := post(t, srv, `{}`)
	if body := readAll(t, resp); resp.StatusCode != 503 || body != unavailableBody {
		t.Fatalf("dropped at admission: %d %q", resp.StatusCode, body)
	}
	h.next('A')

	mu.Lock()
	drop = "L" // the event ending in a form's first byte goes to Python: dropped there
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp = post(t, srv, `{}`)
		if resp.StatusCode == 200 || time.Now().After(deadline) {
			break
		}
		readAll(t, resp)
		time.Sleep(50 * time.Millisecond)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("after reconnecting: %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || string(body) != ev("Hello") {
		t.Fatalf("a cut stream: %q, %v", body, err)
	}
	for kind := byte('A'); kind != 'L'; {
		select {
		case f := <-h.seen:
			if kind = f.kind; kind != 'A' && kind != 'L' {
				t.Fatalf("before the L: %q", kind)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no L")
		}
	}
	select {
	case f := <-h.seen:
		t.Fatalf("after the drop the hook got %q", f.kind)
	case <-time.After(200 * time.Millisecond):
	}
}
