package main

import "bytes"

// splitter cuts an event stream's chunks into lines the way the Python
// gateway does (gateway/proxy/server.py, SseScanner): \r\n, \r and \n all end
// a line, also when a \r\n is cut between two chunks; a line longer than
// maxLine is skipped to its end (and the stream's usage marked unreadable).
type splitter struct {
	maxLine    int
	plain      bool // no redaction: the Python scanner then ends lines at \n only (it changes nothing it passes)
	cr         bool // the previous chunk ended in \r
	buf        []byte
	skipping   bool
	unreadable bool

	norm  []byte // scratch: the chunk with its line ends made \n
	first []byte // scratch: the carried buffer joined to the chunk's first line
}

// feed scans one chunk (not changed) and calls line for every line it
// completes, in order, without its line end; line returns false to stop (the
// rest of the chunk's lines are then not scanned). The slices passed are
// valid only during the call.
func (s *splitter) feed(chunk []byte, line func([]byte) bool) {
	if len(chunk) == 0 {
		return // (the Python side never feeds an empty chunk: it would forget cr)
	}
	if s.plain {
		s.lines(chunk, line)
		return
	}
	if s.cr && len(chunk) > 0 && chunk[0] == '\n' {
		chunk = chunk[1:]
	}
	s.cr = len(chunk) > 0 && chunk[len(chunk)-1] == '\r'
	if bytes.IndexByte(chunk, '\r') >= 0 {
		n := s.norm[:0]
		for i := 0; i < len(chunk); i++ {
			c := chunk[i]
			if c == '\r' {
				c = '\n'
				if i+1 < len(chunk) && chunk[i+1] == '\n' {
					i++
				}
			}
			n = append(n, c)
		}
		s.norm = n
		chunk = n
	}
	s.lines(chunk, line)
}

// lines splits a chunk whose line ends are \n.
func (s *splitter) lines(chunk []byte, line func([]byte) bool) {
	last := bytes.LastIndexByte(chunk, '\n')
	if last < 0 { // no line ends in this chunk
		if !s.skipping {
			s.buf = append(s.buf, chunk...)
			s.bound()
		}
		return
	}
	head, tail := chunk[:last], chunk[last+1:]
	nl := bytes.IndexByte(head, '\n')
	var first, rest []byte
	if nl < 0 {
		first, rest = head, nil
	} else {
		first, rest = head[:nl], head[nl+1:]
	}
	skipped := s.skipping
	if !skipped {
		s.first = append(append(s.first[:0], s.buf...), first...)
	}
	s.skipping = false
	s.buf = append(s.buf[:0], tail...)
	s.bound()
	if !skipped && !line(s.first) {
		return
	}
	if nl < 0 {
		return
	}
	for {
		nl = bytes.IndexByte(rest, '\n')
		if nl < 0 {
			line(rest)
			return
		}
		if !line(rest[:nl]) {
			return
		}
		rest = rest[nl+1:]
	}
}

func (s *splitter) bound() {
	if len(s.buf) > s.maxLine {
		s.buf = s.buf[:0]
		s.skipping = true
		s.unreadable = true
	}
}

// unfinished: the last line the stream did not end ("" when it is being skipped).
func (s *splitter) unfinished() []byte {
	if s.skipping {
		return nil
	}
	return s.buf
}

// isSpace: the bytes Python's bytes.strip() removes.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}
