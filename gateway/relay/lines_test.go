package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// splitAll feeds the chunks and returns the completed lines and what is left.
func splitAll(maxLine int, chunks ...string) ([]string, string, bool) {
	s := splitter{maxLine: maxLine}
	var lines []string
	for _, c := range chunks {
		s.feed([]byte(c), func(l []byte) bool {
			lines = append(lines, string(l))
			return true
		})
	}
	return lines, string(s.unfinished()), s.unreadable
}

// reference: the Python rule on the whole stream at once.
func referenceLines(stream string) ([]string, string) {
	stream = strings.ReplaceAll(stream, "\r\n", "\n")
	stream = strings.ReplaceAll(stream, "\r", "\n")
	parts := strings.Split(stream, "\n")
	return parts[:len(parts)-1], parts[len(parts)-1]
}

func TestSplitLineEnds(t *testing.T) {
	cases := []struct {
		name   string
		chunks []string
		lines  []string
		rest   string
	}{
		{"lf", []string{"data: a\n\ndata: b\n\n"}, []string{"data: a", "", "data: b", ""}, ""},
		{"crlf", []string{"data: a\r\n\r\n"}, []string{"data: a", ""}, ""},
		{"cr", []string{"data: a\r\rdata: b\r"}, []string{"data: a", "", "data: b"}, ""},
		{"crlf cut", []string{"data: a\r", "\n\r", "\ndata: b"}, []string{"data: a", ""}, "data: b"},
		{"cr then lf in one chunk later", []string{"x\r", "y\n"}, []string{"x", "y"}, ""},
		{"line across chunks", []string{"da", "ta: {\"a\"", ":1}\n", "\n"}, []string{`data: {"a":1}`, ""}, ""},
		{"no end", []string{"data: a", "bc"}, nil, "data: abc"},
		{"empty chunk after cr", []string{"a\r", "\n", "\n"}, []string{"a", ""}, ""},
		{"blank first", []string{"\n\n", "x\n"}, []string{"", "", "x"}, ""},
	}
	for _, c := range cases {
		lines, rest, _ := splitAll(1<<20, c.chunks...)
		if !reflect.DeepEqual(lines, c.lines) || rest != c.rest {
			t.Errorf("%s: got %q + %q, want %q + %q", c.name, lines, rest, c.lines, c.rest)
		}
	}
}

// Every way of cutting a stream in two or three gives the lines of the whole.
func TestSplitEveryCut(t *testing.T) {
	stream := "data: {\"x\": 1}\r\n\r\n: comment\rdata: [DONE]\n\nevent: e\r\n\rtail"
	want, wantRest := referenceLines(stream)
	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j++ {
			lines, rest, _ := splitAll(1<<20, stream[:i], stream[i:j], stream[j:])
			if !reflect.DeepEqual(lines, want) || rest != wantRest {
				t.Fatalf("cut at %d,%d: got %q + %q, want %q + %q", i, j, lines, rest, want, wantRest)
			}
		}
	}
}

func TestSplitChunkNotChanged(t *testing.T) {
	chunk := []byte("a\r\nb\rc\n")
	orig := append([]byte(nil), chunk...)
	s := splitter{maxLine: 100}
	s.feed(chunk, func([]byte) bool { return true })
	if !bytes.Equal(chunk, orig) {
		t.Fatalf("the chunk changed: %q", chunk)
	}
}

func TestSplitStop(t *testing.T) {
	s := splitter{maxLine: 100}
	var got []string
	s.feed([]byte("a\nb\nc\nd"), func(l []byte) bool {
		got = append(got, string(l))
		return string(l) != "b"
	})
	if !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("got %q", got)
	}
}

func TestSplitLongLine(t *testing.T) {
	const max = 1 << 20
	long := strings.Repeat("x", max)
	// exactly max bytes buffered: kept
	lines, rest, unreadable := splitAll(max, "data: ", long[:max-6])
	if len(lines) != 0 || len(rest) != max || unreadable {
		t.Fatalf("at the bound: %d lines, rest %d, unreadable %v", len(lines), len(rest), unreadable)
	}
	// one byte more: dropped, the rest of the line skipped, the next line kept
	lines, rest, unreadable = splitAll(max, "data: ", long[:max-5], "yyy", "zz\ndata: next\n", "more")
	if !reflect.DeepEqual(lines, []string{"data: next"}) || rest != "more" || !unreadable {
		t.Fatalf("over the bound: %q + %q, unreadable %v", lines, rest, unreadable)
	}
	// a long tail of one chunk after its last line end
	lines, rest, unreadable = splitAll(max, "a\n"+long+"y", "\nb\n")
	if !reflect.DeepEqual(lines, []string{"a", "b"}) || rest != "" || !unreadable {
		t.Fatalf("long tail: %q + %q, unreadable %v", lines, rest, unreadable)
	}
	// a line completed in one chunk is not bounded (as in Python)
	lines, _, unreadable = splitAll(max, "data: "+long+"\n")
	if len(lines) != 1 || unreadable {
		t.Fatalf("whole long line in one chunk: %d lines, unreadable %v", len(lines), unreadable)
	}
	// the skipped line's end in a chunk of its own
	lines, rest, _ = splitAll(max, long+"y", "\n", "data: ok\n")
	if !reflect.DeepEqual(lines, []string{"data: ok"}) || rest != "" {
		t.Fatalf("skipped end alone: %q + %q", lines, rest)
	}
	// while skipping, a chunk with no line end is dropped
	_, rest, _ = splitAll(max, long+"y", "zzz")
	if rest != "" {
		t.Fatalf("skipping: rest %q", rest)
	}
}

func TestTrimSpace(t *testing.T) {
	if got := string(trimSpace([]byte(" \t\v\f\r\n[DONE] \n"))); got != "[DONE]" {
		t.Fatalf("%q", got)
	}
	if got := trimSpace([]byte(" \x0b ")); len(got) != 0 {
		t.Fatalf("%q", got)
	}
}

// Without redaction the Python scanner ends lines at \n only: a lone \r stays
// inside its line (so the events it counts are the same).
func TestSplitPlainEndsLinesAtNewlineOnly(t *testing.T) {
	s := splitter{maxLine: 100, plain: true}
	var got []string
	s.feed([]byte("data: {}\rdata: {}\n\r\nx"), func(l []byte) bool {
		got = append(got, string(l))
		return true
	})
	if !reflect.DeepEqual(got, []string{"data: {}\rdata: {}", "\r"}) {
		t.Fatalf("got %q", got)
	}
}
