package main

import "bytes"

// fastPath decides, without Python, that a line certainly holds nothing the
// redaction would change. It must never pass what Python would change: any
// doubt sends the line to Python. One per call (it keeps scratch space and
// the envelope last found clean).
type fastPath struct {
	forms    [][]byte // lowercase ASCII
	shortest int
	longest  int
	firsts   [256]bool // the forms' first bytes

	low      []byte // scratch: a lowercased copy
	env      []byte // scratch: the envelope being built
	cleanEnv []byte // the latest envelope found clean
}

// newFastPath returns nil (no fast path: everything goes to Python) unless
// every form is non-empty printable ASCII without '"' or '\' (the forms then
// appear in JSON text as they are).
func newFastPath(forms []string, shortest, longest int) *fastPath {
	if len(forms) == 0 {
		return nil
	}
	f := &fastPath{shortest: shortest, longest: longest}
	realShortest, realLongest := -1, 0
	for _, s := range forms {
		if s == "" {
			return nil
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				return nil
			}
		}
		b := lowerASCII(nil, []byte(s))
		f.forms = append(f.forms, b)
		f.firsts[b[0]] = true
		if realShortest < 0 || len(b) < realShortest {
			realShortest = len(b)
		}
		if len(b) > realLongest {
			realLongest = len(b)
		}
	}
	// Python's numbers are the forms' lengths; trust the forms if they disagree
	// (a larger shortest would let a form through unchecked).
	if f.shortest > realShortest || f.shortest <= 0 {
		f.shortest = realShortest
	}
	if f.longest < realLongest {
		f.longest = realLongest
	}
	return f
}

func lowerASCII(dst, b []byte) []byte {
	dst = dst[:0]
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func hasEscapeByte(b []byte) bool {
	return bytes.IndexByte(b, '\\') >= 0 || bytes.IndexByte(b, '%') >= 0 || bytes.IndexByte(b, '&') >= 0
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// clean: b has no '\', '%', '&' and its ASCII lowercase holds no form.
func (f *fastPath) clean(b []byte) bool {
	if hasEscapeByte(b) {
		return false
	}
	if len(b) < f.shortest {
		return true
	}
	f.low = lowerASCII(f.low, b)
	for _, form := range f.forms {
		if bytes.Contains(f.low, form) {
			return false
		}
	}
	return true
}

// textFast: a line that is not an event may pass as it is.
func (f *fastPath) textFast(line []byte) bool {
	return f != nil && isASCII(line) && f.clean(line)
}

// holds: the end of v (ASCII) could begin a form: some non-empty suffix of
// lower(v), shorter than the form, is a prefix of the form.
func (f *fastPath) holds(v []byte) bool {
	n := len(v)
	for _, form := range f.forms {
		a := n - len(form) + 1
		if a < 0 {
			a = 0
		}
		for ; a < n; a++ {
			c := v[a]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != form[0] {
				continue
			}
			if foldPrefix(form, v[a:]) {
				return true
			}
		}
	}
	return false
}

// foldPrefix: lower(s) is a prefix of form (len(s) < len(form) here).
func foldPrefix(form, s []byte) bool {
	if len(s) > len(form) {
		return false
	}
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != form[i] {
			return false
		}
	}
	return true
}

// eventFast: an event's JSON payload may pass as it came, unparsed.
func (f *fastPath) eventFast(payload []byte) bool {
	if f == nil || hasEscapeByte(payload) {
		return false
	}
	env := f.env[:0]
	pos, cut := 0, false
	for at := 0; ; {
		vs, ve, end := nextJoinedValue(payload, at)
		if end < 0 {
			break
		}
		at = end
		if ve == vs {
			continue
		}
		v := payload[vs:ve]
		if !isASCII(v) {
			return false
		}
		if len(v) >= f.shortest && !f.clean(v) {
			return false
		}
		if f.holds(v) {
			return false
		}
		env = append(env, payload[pos:vs]...)
		env = append(env, 0) // no form holds a NUL: none can span the cut
		pos, cut = ve, true
	}
	if cut {
		env = append(env, payload[pos:]...)
		f.env = env
	} else {
		env = payload
	}
	if !bytes.Equal(env, f.cleanEnv) {
		if !f.clean(env) {
			return false
		}
		f.cleanEnv = append(f.cleanEnv[:0], env...)
	}
	return true
}

// The joined-value pattern, matched by hand (the same leftmost,
// non-overlapping matches as this regexp; fast_test.go checks that):
//
//	"(?:content|refusal|reasoning_content|reasoning|arguments)"[ \t\n\r]*:[ \t\n\r]*"([^"]*)"
const joinedValuePattern = `"(?:content|refusal|reasoning_content|reasoning|arguments)"[ \t\n\r]*:[ \t\n\r]*"([^"]*)"`

var joinedKeys = [][]byte{
	[]byte("content"), []byte("refusal"), []byte("reasoning_content"), []byte("reasoning"), []byte("arguments"),
}

// nextJoinedValue finds the leftmost match starting at or after from: the
// value's bounds [vs, ve) and the match's end; end -1 when there is none.
func nextJoinedValue(b []byte, from int) (vs, ve, end int) {
	for i := from; i < len(b); i++ {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			break
		}
		i += q
		if vs, ve, end := matchJoinedAt(b, i); end >= 0 {
			return vs, ve, end
		}
	}
	return 0, 0, -1
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// matchJoinedAt tries the pattern at b[i] == '"'. At most one key can be
// followed by '"' at one position, so the alternation needs no backtracking.
func matchJoinedAt(b []byte, i int) (vs, ve, end int) {
	rest := b[i+1:]
	k := -1
	for _, key := range joinedKeys {
		if len(rest) > len(key) && rest[len(key)] == '"' && bytes.HasPrefix(rest, key) {
			k = i + 1 + len(key) + 1
			break
		}
	}
	if k < 0 {
		return 0, 0, -1
	}
	for k < len(b) && isJSONSpace(b[k]) {
		k++
	}
	if k >= len(b) || b[k] != ':' {
		return 0, 0, -1
	}
	k++
	for k < len(b) && isJSONSpace(b[k]) {
		k++
	}
	if k >= len(b) || b[k] != '"' {
		return 0, 0, -1
	}
	vs = k + 1
	q := bytes.IndexByte(b[vs:], '"')
	if q < 0 {
		return 0, 0, -1
	}
	return vs, vs + q, vs + q + 1
}
