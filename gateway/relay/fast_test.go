package main

import (
	"math/rand"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var testForms = []string{"sk-lab-secret-1234", "c2stbgfilxnly3jldc0xmjm0"}

func testFast() *fastPath { return newFastPath(testForms, 18, 24) }

func event(content string) string {
	return `{"id":"chatcmpl-9","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"` +
		content + `"},"finish_reason":null}]}`
}

func TestEventFast(t *testing.T) {
	cases := []struct {
		name    string
		payload string
		pass    bool
	}{
		// may pass
		{"ordinary", event("Hello"), true},
		{"empty value", event(""), true},
		{"short value", event("Hi"), true},
		{"no joined value", `{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, true},
		{"role only", `{"choices":[{"delta":{"role":"assistant","content":""}}]}`, true},
		{"spaces around colon", `{"delta": {"content" : "words here"}}`, true},
		{"non-ASCII envelope", `{"model":"modèle","delta":{"content":"ok"}}`, true},
		{"a form's middle at the end", event("lab-secret"), true},
		// must go to Python
		{"form in content", event("key sk-lab-secret-1234 here"), false},
		{"form upper case", event("SK-LAB-SECRET-1234"), false},
		{"second form", event("c2STbgfilxnly3jldc0xmjm0"), false},
		{"form in refusal", `{"delta":{"refusal":"sk-lab-secret-1234"}}`, false},
		{"form in reasoning_content", `{"delta":{"reasoning_content":"x sk-lab-secret-1234"}}`, false},
		{"form in reasoning", `{"delta":{"reasoning":"sk-lab-secret-1234"}}`, false},
		{"escaped arguments", `{"delta":{"tool_calls":[{"function":{"arguments":"{\u0022"}}]}}`, false},
		{"form in arguments", `{"delta":{"tool_calls":[{"function":{"arguments":"sk-lab-secret-1234"}}]}}`, false},
		{"form in envelope", `{"id":"sk-lab-secret-1234","delta":{"content":"Hello"}}`, false},
		{"form in other key's value", `{"delta":{"name":"sk-lab-secret-1234"}}`, false},
		{"form as a key", `{"sk-lab-secret-1234":1}`, false},
		{"end could begin a form", event("the key is sk-la"), false},
		{"end is a form's first byte", event("yes"), false},
		{"end is a form's first byte, upper", event("YES"), false},
		{"end could begin the second form", event("c2stb"), false},
		{"backslash", event(`line\nbreak`), false},
		{"unicode escape", event(`\u0073k-lab-secret-1234`), false},
		{"percent", event("100%"), false},
		{"ampersand", event("a&b"), false},
		{"percent in envelope", `{"id":"50%","delta":{"content":"ok"}}`, false},
		{"non-ASCII value", event("héllo"), false},
		{"two values, second holds", `{"choices":[{"delta":{"content":"ok"}},{"delta":{"content":"sk-lab-secret-1234"}}]}`, false},
		{"two values, first ends in a prefix", `{"choices":[{"delta":{"content":"ends sk"}},{"delta":{"content":"ok"}}]}`, false},
	}
	for _, c := range cases {
		f := testFast()
		if got := f.eventFast([]byte(c.payload)); got != c.pass {
			t.Errorf("%s: eventFast(%s) = %v, want %v", c.name, c.payload, got, c.pass)
		}
		// the envelope cache changes no decision
		if got := f.eventFast([]byte(c.payload)); got != c.pass {
			t.Errorf("%s (again): eventFast = %v, want %v", c.name, got, c.pass)
		}
	}
	var none *fastPath
	if none.eventFast([]byte(event("Hello"))) || none.textFast([]byte(": ok")) {
		t.Error("no fast data: everything goes to Python")
	}
}

// A clean envelope is remembered, but a changed one is checked again.
func TestEventFastEnvelopeCache(t *testing.T) {
	f := testFast()
	if !f.eventFast([]byte(event("Hello"))) {
		t.Fatal("ordinary event")
	}
	bad := `{"id":"sk-lab-secret-1234","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}`
	if f.eventFast([]byte(bad)) {
		t.Fatal("a form in a changed envelope passed")
	}
	if !f.eventFast([]byte(event("world"))) {
		t.Fatal("the ordinary envelope again")
	}
}

func TestTextFast(t *testing.T) {
	cases := []struct {
		line string
		pass bool
	}{
		{": keep-alive", true},
		{"event: message", true},
		{"id: 42", true},
		{"data: plain words", true},
		{"x", true}, // shorter than any form
		{": sk-lab-secret-1234", false},
		{": SK-Lab-Secret-1234", false},
		{"data: c2stbgfilxnly3jldc0xmjm0", false},
		{": 50%", false},
		{": a&b", false},
		{`: back\slash`, false},
		{"é", false},
		{": caf\xc3\xa9", false},
	}
	f := testFast()
	for _, c := range cases {
		if got := f.textFast([]byte(c.line)); got != c.pass {
			t.Errorf("textFast(%q) = %v, want %v", c.line, got, c.pass)
		}
	}
}

func TestHolds(t *testing.T) {
	f := testFast()
	cases := map[string]bool{
		"": false, "x": false, "s": true, "S": true, "ask": true, "sk-lab-secret-123": true,
		"sk-lab-secret-1234":  false, // a whole form is CLEAN's to find, not HOLDS's
		"xsk-lab-secret-1234": false, "c2": true, "hello": false, "abc": true, "lab": false,
	}
	for v, want := range cases {
		if got := f.holds([]byte(v)); got != want {
			t.Errorf("holds(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestNewFastPath(t *testing.T) {
	if newFastPath(nil, 0, 0) != nil {
		t.Error("no forms")
	}
	if newFastPath([]string{"ab\"c"}, 4, 4) != nil || newFastPath([]string{"ab\\c"}, 4, 4) != nil {
		t.Error("a form JSON shows escaped")
	}
	if newFastPath([]string{"é"}, 2, 2) != nil || newFastPath([]string{""}, 0, 0) != nil {
		t.Error("non-ASCII or empty form")
	}
	f := newFastPath([]string{"ABCdef", "xyz"}, 50, 1) // numbers that disagree with the forms
	if f.shortest != 3 || !reflect.DeepEqual(f.forms, [][]byte{[]byte("abcdef"), []byte("xyz")}) {
		t.Errorf("shortest %d forms %q", f.shortest, f.forms)
	}
	if f.textFast([]byte(": xyz")) {
		t.Error("a short form passed (shortest from Python too large)")
	}
}

// The hand-written matcher finds exactly the regexp's matches.
func TestJoinedValueMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(joinedValuePattern)
	pieces := []string{`"`, `content`, `refusal`, `reasoning`, `reasoning_content`, `arguments`, `_content`,
		`:`, ` `, "\t", "\n", "\r", `x`, `{`, `}`, `,`, `"content"`, `"reasoning"`, `: "`, `""`, "\xff", `é`}
	rng := rand.New(rand.NewSource(17))
	matched := 0
	for n := 0; n < 20000; n++ {
		var b strings.Builder
		for k := rng.Intn(14); k >= 0; k-- {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		}
		s := []byte(b.String())
		var want [][2]int
		for _, m := range re.FindAllSubmatchIndex(s, -1) {
			want = append(want, [2]int{m[2], m[3]})
		}
		var got [][2]int
		for at := 0; ; {
			vs, ve, end := nextJoinedValue(s, at)
			if end < 0 {
				break
			}
			got = append(got, [2]int{vs, ve})
			at = end
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %v, regexp %v", s, got, want)
		}
		matched += len(want)
	}
	if matched < 200 {
		t.Fatalf("only %d matches: the generated texts test little", matched)
	}
}
