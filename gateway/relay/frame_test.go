package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var wire []byte
	wire = appendFrame(wire, 7, 'A', []byte(`{"method": "POST"}`), []byte("payload"))
	wire = appendFrame(wire, 8, 'H', []byte(`{}`), nil)
	wire = appendFrame(wire, 1<<31, 'L', nil, []byte("x"))

	// the layout, byte by byte, of the first frame
	want := []byte{0, 0, 0, byte(9 + 18 + 7), 0, 0, 0, 7, 'A', 0, 0, 0, 18}
	if !bytes.HasPrefix(wire, want) {
		t.Fatalf("layout: % x", wire[:13])
	}

	r := bufio.NewReader(bytes.NewReader(wire))
	cases := []struct {
		id     uint32
		kind   byte
		header string
		body   string
	}{{7, 'A', `{"method": "POST"}`, "payload"}, {8, 'H', `{}`, ""}, {1 << 31, 'L', "", "x"}}
	for _, c := range cases {
		f, err := readFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		if f.id != c.id || f.kind != c.kind || string(f.header) != c.header || string(f.body) != c.body {
			t.Fatalf("got %d %c %q %q, want %+v", f.id, f.kind, f.header, f.body, c)
		}
	}
	if _, err := readFrame(r); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

func TestFrameMalformed(t *testing.T) {
	short := []byte{0, 0, 0, 5, 0, 0, 0, 1, 'A'}
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(short))); !errors.Is(err, errFrame) {
		t.Fatalf("n < 9: %v", err)
	}
	bad := appendFrame(nil, 1, 'A', []byte("{}"), nil)
	binary.BigEndian.PutUint32(bad[9:13], 100) // header longer than the frame
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(bad))); !errors.Is(err, errFrame) {
		t.Fatalf("j too large: %v", err)
	}
	cut := appendFrame(nil, 1, 'A', []byte("{}"), []byte("body"))
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(cut[:len(cut)-1]))); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut frame: %v", err)
	}
}
