"""Keeping the lab's endpoint credential out of everything a caller gets.

The gateway calls a lab's endpoint with the lab's credential. An endpoint is
not trusted to keep it to itself: a debugging proxy, an error page or a model
that was shown it can echo it back, whole or encoded, in one piece or spread
over a stream. Every route (chat completions, whole and streamed, and the
Responses API built from them) passes what the upstream sent through this
module before the caller sees it.

What counts as the credential (``Redactor.forms``): the credential in any
letter case, reversed; the hex of its UTF-8 bytes; its base64 and base64url at
each of the three byte alignments (only the characters that depend on the
credential alone, so it is found inside a longer encoded text too). What is
searched: every string of the upstream's JSON as the parser decoded it (so
``\\u0073k-…`` and ``\\/`` are already undone), in a *decoded view* that also
undoes percent-escapes (``%73``), escapes left in the text (``\\u0073``,
``\\x73``, ``\\/``) and HTML character references (``&#115;``, ``&#x73;``),
each alone or mixed. A match is replaced by ``[redacted]`` in the text the
caller gets; an answer with nothing to replace goes on byte for byte.

Streams: text a client joins from many events (a choice's ``content``,
``refusal``, reasoning, a tool call's ``arguments``) goes through a ``Window``
per choice and field, which holds back only the end that could be the start
of a form (or of an escape) until the next piece shows whether it is; all the
rest goes on at once. What is still held when the stream ends goes out in an
event of its own before ``[DONE]``.

Not covered: encodings applied twice (base64 of the hex), text split across
fields a client does not join (two tool calls, logprob tokens), and JSON
nested too deeply to walk (its event goes on as text, scrubbed as such).

Pure: no Django, no I/O."""

from __future__ import annotations

import base64
import functools
import json
import re
from typing import Any

REDACTED = "[redacted]"

# Encoded forms shorter than this would match ordinary text by chance.
MIN_FORM = 8
# How many times a text's escapes are decoded (an escape inside JSON inside a JSON string: 3).
VIEW_LEVELS = 3

# One escape in a text, decoded for the view: %XX, \\uXXXX, \\xXX, &#xH…;, &#D…;, \\ + punctuation.
_ESCAPE = re.compile(
    r"%([0-9A-Fa-f]{2})|\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})|&#[xX]([0-9A-Fa-f]{1,6});|&#([0-9]{1,7});"
    r"|\\([^0-9A-Za-z])"
)
# The start of an escape that a text ends in (the next piece may complete it).
_PARTIAL = re.compile(
    r"(?:%[0-9A-Fa-f]?|\\(?:u[0-9A-Fa-f]{0,3}|x[0-9A-Fa-f]?)?|&(?:#(?:[xX][0-9A-Fa-f]{0,6}|[0-9]{0,7})?)?)\Z"
)
_LONGEST_ESCAPE = 10  # &#x10FFFF;
_STARTERS = "%\\&"
# How many characters of text one decoded character may take, for holding
# back a split form (a form escaped more deeply is still caught whole).
_TAIL_PER_CHAR = 12
_URLSAFE = str.maketrans("+/", "-_")
# A JSON object key's end: counted to prove a parsed event has no duplicate keys.
_KEY_END = re.compile(rb'"[ \t\n\r]*:')

# The fields of a streamed choice's delta whose pieces a client joins.
STREAMED_TEXT = ("content", "refusal", "reasoning_content", "reasoning")
# Such a field's string value in JSON text with no backslash (so the value is as it appears).
_JOINED_VALUE = re.compile(
    rb'"(?:content|refusal|reasoning_content|reasoning|arguments)"[ \t\n\r]*:[ \t\n\r]*"([^"]*)"'
)


def forms_of(credential: str) -> tuple[str, ...]:
    """The credential's forms, lower-cased (searched in a lower-cased view)."""
    if not credential:
        return ()
    raw = credential.encode()
    found = {credential, credential[::-1], raw.hex()}
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + raw).decode()
        core = encoded[-(-8 * k // 6) : (8 * k + 8 * len(raw)) // 6]
        found.update((core, core.translate(_URLSAFE)))
    kept = {f.lower() for f in found if len(f) >= MIN_FORM or f in (credential, credential[::-1])}
    return tuple(sorted(kept, key=lambda f: (-len(f), f)))


def _decode(match: re.Match[str]) -> str:
    which, value = match.lastindex or 0, match.group(match.lastindex or 0)
    if which == 6:
        return value
    code = int(value, 10 if which == 5 else 16)
    return chr(code) if code <= 0x10FFFF else match.group(0)


def _view(text: str) -> tuple[str, list[int] | None]:
    """The text with its escapes decoded (up to ``VIEW_LEVELS`` times: JSON in
    a JSON string escapes twice), and for each of its characters (and its end)
    where it starts in ``text``; None when nothing was decoded."""
    view, starts = _view_once(text)
    for _ in range(VIEW_LEVELS - 1):
        if starts is None:
            break
        again, inner = _view_once(view)
        if inner is None:
            break
        view, starts = again, [starts[i] for i in inner]
    return view, starts


def _view_once(text: str) -> tuple[str, list[int] | None]:
    if "%" not in text and "\\" not in text and "&" not in text:
        return text, None
    parts: list[str] = []
    starts: list[int] = []
    pos = 0
    for match in _ESCAPE.finditer(text):
        at = match.start()
        if at > pos:
            parts.append(text[pos:at])
            starts.extend(range(pos, at))
        decoded = _decode(match)
        parts.append(decoded)
        starts.extend([at] if len(decoded) == 1 else range(at, match.end()))
        pos = match.end()
    if not starts:
        return text, None
    parts.append(text[pos:])
    starts.extend(range(pos, len(text) + 1))
    return "".join(parts), starts


def _unfinished(text: str) -> int:
    """Where an escape that ``text`` ends in, unfinished, starts (in the text
    or in a decoded view of it); ``len(text)`` when there is none."""
    cut = len(text)
    view, starts = text, None
    for level in range(VIEW_LEVELS):
        partial = _PARTIAL.search(view, max(0, len(view) - _LONGEST_ESCAPE))
        if partial is not None:
            at = partial.start()
            cut = min(cut, starts[at] if starts is not None else at)
        if level == VIEW_LEVELS - 1:
            break
        again, inner = _view_once(view)
        if inner is None:
            break
        view, starts = again, inner if starts is None else [starts[i] for i in inner]
    return cut


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)  # keep positions


class Redactor:
    """One credential's forms, and the search for them in a text."""

    def __init__(self, credential: str) -> None:
        self.forms = forms_of(credential)
        self.shortest = min((len(f) for f in self.forms), default=0)
        self.longest = max((len(f) for f in self.forms), default=0)
        self._firsts = {f[0] for f in self.forms}
        # What a text's tail must hold for anything in it to wait: a form's
        # first character or the start of an escape.
        self._starters = frozenset(self._firsts | set(_STARTERS))
        self._forms_raw = tuple(f.encode() for f in self.forms)
        # JSON text shows these as they are unless the credential holds a
        # character JSON escapes (then every event is walked).
        self._raw_check = all(c.isascii() and c.isprintable() and c not in '"\\' for f in self.forms for c in f)

    def __bool__(self) -> bool:
        return bool(self.forms)

    def clean(self, raw: bytes) -> bool:
        """Whether the JSON text ``raw`` certainly holds no form: no escape
        that could hide one (\\u, \\/, an escaped backslash, %, &) and no form
        as it is. Then no string its parse gives can hold one either (nor a
        value a repeated key hid), and the walk is not needed."""
        if not self._raw_check:
            return False
        if len(raw.translate(None, b"%&\\")) != len(raw) and (
            b"%" in raw or b"&" in raw or b"\\u" in raw or b"\\/" in raw or b"\\\\" in raw
        ):
            return False
        low = raw.lower()
        for form in self._forms_raw:
            if form in low:
                return False
        return True

    def _spans(self, low: str) -> list[tuple[int, int]]:
        spans = []
        for form in self.forms:
            at = low.find(form)
            while at >= 0:
                spans.append((at, at + len(form)))
                at = low.find(form, at + 1)
        spans.sort()
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a < merged[-1][1]:  # overlapping (adjacent ones stay two)
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return merged

    def scrub(self, text: str) -> str:
        """``text`` with every form of the credential replaced (``text`` itself
        when there was none)."""
        return self._replace(text, 0)

    def _replace(self, text: str, sent: int) -> str:
        """Every form replaced, except that ``text[:sent]`` is kept as it is
        (it has gone out already): a form that begins there is replaced from
        ``sent`` on."""
        if len(text) < self.shortest or not self.forms:
            return text  # a decoded view is never longer than its text
        view, starts = _view(text)
        low = _lower(view)
        for form in self.forms:
            if form in low:
                break
        else:
            return text
        out = [text[:sent]]
        pos = sent
        for a, b in self._spans(low):
            if starts is not None:
                a, b = starts[a], starts[b]
            if b <= sent:
                continue
            out.append(text[pos:a] if a > pos else "")
            out.append(REDACTED)
            pos = b
        out.append(text[pos:])
        return "".join(out)

    def scrub_bytes(self, data: bytes) -> bytes:
        """Bytes that are not JSON (a stream's comment or unparsable line)."""
        if len(data) < self.shortest:
            return data
        text = data.decode("utf-8", "surrogateescape")
        scrubbed = self.scrub(text)
        return data if scrubbed is text else scrubbed.encode("utf-8", "surrogateescape")

    def hold_from(self, text: str) -> int:
        """Where the end of ``text`` that could begin a form (or an escape)
        starts; ``len(text)`` when none could."""
        # Only the last characters can begin a form: at most longest - 1 of
        # the view, each at most _TAIL_PER_CHAR characters of text.
        if not self._starters.intersection(text[-self.longest :].lower()):
            return len(text)  # the usual case: nothing at the end could begin one
        offset = max(0, len(text) - self.longest * _TAIL_PER_CHAR)
        region = text[offset:]
        cut = len(region)
        while True:  # an unfinished escape, at any level, may finish as part of a form
            found = _unfinished(region[:cut])
            if found == cut:
                break
            cut = found
        view, starts = _view(region[:cut])
        low = _lower(view)
        size = len(low)
        if not self._firsts.intersection(low[max(0, size - self.longest + 1) :]):
            return offset + cut
        earliest = size
        for form in self.forms:
            at = low.find(form[0], max(0, size - len(form) + 1))
            while 0 <= at < earliest:
                if form.startswith(low[at:]):
                    earliest = at
                    break
                at = low.find(form[0], at + 1)
        if earliest == size:
            return offset + cut
        return offset + (starts[earliest] if starts is not None else earliest)

    def scrub_json(self, value: Any) -> tuple[Any, bool, int]:
        """A parsed JSON value with every string (keys too) scrubbed; whether
        anything changed; how many object keys it holds."""
        walk = _Walk(self)
        return walk.value(value), walk.changed, walk.keys

    def window(self) -> Window:
        return Window(self)


class _Walk:
    def __init__(self, redactor: Redactor) -> None:
        self.r = redactor
        self.changed = False
        self.keys = 0

    def value(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            scrubbed = self.r.scrub(value)
            if scrubbed is not value:
                self.changed = True
            return scrubbed
        if kind is dict:
            # In place (the value is the gateway's own parse); a new dict only if a key changes.
            self.keys += len(value)
            renamed = False
            for key, item in value.items():
                new = self.value(item)
                if new is not item:
                    value[key] = new
                renamed = renamed or (len(key) >= self.r.shortest and self.r.scrub(key) is not key)
            if renamed:
                self.changed = True
                return {self.r.scrub(key): item for key, item in value.items()}
            return value
        if kind is list:
            for i, item in enumerate(value):
                new = self.value(item)
                if new is not item:
                    value[i] = new
            return value
        return value


def as_sent(raw: bytes, keys: int) -> bool:
    """Whether the JSON text ``raw`` has exactly the ``keys`` object keys its
    parse found: no key repeated, so no value the parse dropped (a caller
    reading the text would see it, the scrub would not)."""
    return raw.count(b":") == keys or len(_KEY_END.findall(raw)) == keys


def scrub_document(redactor: Redactor, data: Any, raw: bytes) -> tuple[Any, bytes]:
    """A whole JSON answer: the parsed value scrubbed, and the bytes to send
    (``raw`` itself when nothing changed and it holds nothing the parse dropped)."""
    if redactor.clean(raw):
        return data, raw
    scrubbed, changed, keys = redactor.scrub_json(data)
    if not changed and as_sent(raw, keys):
        return data, raw
    return scrubbed, json.dumps(scrubbed).encode()


class Window:
    """Text that arrives in pieces, passed on with the credential redacted even
    when a form of it is split across pieces: a piece's end that could begin
    one waits for the next piece (or a flush). Any other text goes on at once.

    ``buffer`` is the text from the earliest point where a form could still
    begin: its first ``sent`` characters have gone out (after a flush), the
    rest waits. A form that begins in what went out is replaced from there on,
    so the text a client joins never holds a whole one."""

    def __init__(self, redactor: Redactor) -> None:
        self.r = redactor
        self.buffer = ""
        self.sent = 0

    @property
    def pending(self) -> str:
        return self.buffer[self.sent :]

    def push(self, piece: str) -> str:
        if not self.buffer:
            text = self.r.scrub(piece)
            cut = self.r.hold_from(text)
            self.buffer = text[cut:]
            return text[:cut]
        text = self.r._replace(self.buffer + piece, self.sent)
        cut = self.r.hold_from(text)
        upto = max(cut, self.sent)
        out = text[self.sent : upto]
        self.buffer, self.sent = text[cut:], upto - cut
        return out

    def flush(self) -> str:
        """What waits, to go out now (it is never a whole form)."""
        out = self.buffer[self.sent :]
        if out:
            cut = self.r.hold_from(self.buffer)  # what went out may still begin a form
            self.buffer = self.buffer[cut:]
            self.sent = len(self.buffer)
        return out


class StreamScrub:
    """A chat-completion event stream's events, scrubbed: every string, and
    the text a client joins through a window per choice and field.

    What a window holds goes out as soon as the choice moves on: in the event
    that ends the choice (``finish_reason``), or, for text, in the event that
    starts another of the choice's fields (a tool call after text, so a
    translation closing the text item has all of it). What is still held when
    the stream ends goes out in events of its own (``flush``)."""

    def __init__(self, redactor: Redactor) -> None:
        self.r = redactor
        self.windows: dict[tuple[int, str, int], Window] = {}
        self.holding: set[tuple[int, str, int]] = set()  # the windows that hold text back
        self._clean_envelope = b""  # the latest event's text around its joined values, found clean
        self.latest: dict[str, Any] = {}  # the latest event, whose own fields the events flush makes carry

    def event(self, data: Any, raw: bytes) -> tuple[Any, bool]:
        """One upstream event (parsed from ``raw``): scrubbed, and whether
        ``raw`` still says exactly that."""
        if self.r.clean(raw):
            changed, keys = False, -1
        else:
            data, changed, keys = self.r.scrub_json(data)
        if type(data) is dict:
            choices = data.get("choices")
            if type(choices) is list:
                for position, choice in enumerate(choices):
                    if type(choice) is dict:
                        index = choice.get("index")
                        if self._choice(index if type(index) is int else position, choice):
                            changed = True
            self.latest = data
        return data, not changed and (keys < 0 or as_sent(raw, keys))

    def passes(self, raw: bytes) -> bool:
        """Whether an event (the JSON text ``raw``) may go on as it came,
        unparsed: no window keeps any text, the text has no backslash (its
        strings are as they appear), no escape and no form of the credential,
        and no text a client joins ends in something that could begin one. The
        usual streamed event; anything else goes through ``event``.

        The text around the joined values (the envelope: ids, the model, the
        keys) is the same in most events of a stream, so once it was found
        clean it is not searched again."""
        if b"\\" in raw or len(raw.translate(None, b"%&")) != len(raw):
            return False
        for window in self.windows.values():
            if window.buffer:
                return False
        r = self.r
        around = []
        pos = 0
        for match in _JOINED_VALUE.finditer(raw):
            value = match.group(1)
            if not value:
                continue
            around.append(raw[pos : match.start(1)])
            pos = match.end(1)
            if len(value) >= r.shortest and not r.clean(value):
                return False
            try:
                text = value.decode()
            except UnicodeDecodeError:
                return False
            if r.hold_from(text) < len(text):
                return False
        envelope = b"\0".join((*around, raw[pos:])) if around else raw
        if envelope != self._clean_envelope:
            if not r.clean(envelope):
                return False
            self._clean_envelope = envelope
        return True

    def _push(self, key: tuple[int, str, int], piece: str) -> str:
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = Window(self.r)
        out = window.push(piece)
        if window.sent < len(window.buffer):
            self.holding.add(key)
        else:
            self.holding.discard(key)
        return out

    def _choice(self, index: int, choice: dict[str, Any]) -> bool:
        """Pass the choice's joined text through its windows, flushing them as
        it moves on; whether the choice changed."""
        delta = choice.get("delta")
        if type(delta) is not dict:
            delta = None
        changed = False
        fed: list[tuple[int, str, int]] = []
        if delta is not None:
            for name in STREAMED_TEXT:
                piece = delta.get(name)
                if type(piece) is str and piece:
                    key = (index, name, 0)
                    fed.append(key)
                    out = self._push(key, piece)
                    if out != piece:
                        delta[name], changed = out, True
            if "tool_calls" in delta or "function_call" in delta:
                for key, function in _functions(index, delta):
                    fed.append(key)
                    out = self._push(key, function["arguments"])
                    if out != function["arguments"]:
                        function["arguments"], changed = out, True
        if not self.holding:
            return changed
        ended = choice.get("finish_reason") is not None
        for key in sorted(self.holding):
            # At the choice's end everything goes; before it, text another field has taken over from.
            if key[0] == index and (ended or (fed and key not in fed and key[1] in STREAMED_TEXT)):
                if delta is None:
                    delta = choice["delta"] = {}
                _append(delta, key, self.windows[key].flush())
                self.holding.discard(key)
                changed = True
        return changed

    def flush(self) -> list[dict[str, Any]]:
        """Events carrying what the windows still hold: one per choice, for the
        stream's end (nothing of the stream may follow them)."""
        deltas: dict[int, dict[str, Any]] = {}
        for key in sorted(self.holding):
            rest = self.windows[key].flush()
            if rest:
                _append(deltas.setdefault(key[0], {}), key, rest)
        self.holding.clear()
        envelope = {k: v for k, v in self.latest.items() if k not in ("choices", "usage")}
        return [
            {**envelope, "choices": [{"index": index, "delta": delta, "finish_reason": None}]}
            for index, delta in sorted(deltas.items())
        ]


def _functions(index: int, delta: dict[str, Any]) -> list[tuple[tuple[int, str, int], dict[str, Any]]]:
    """The delta's function objects with streamed arguments, by their window."""
    found = []
    calls = delta.get("tool_calls")
    if type(calls) is list:
        for position, call in enumerate(calls):
            function = call.get("function") if type(call) is dict else None
            if type(function) is dict and type(function.get("arguments")) is str and function["arguments"]:
                at = call.get("index")
                found.append(((index, "tool_calls", at if type(at) is int else position), function))
    function = delta.get("function_call")  # the older functions API
    if type(function) is dict and type(function.get("arguments")) is str and function["arguments"]:
        found.append(((index, "function_call", 0), function))
    return found


def _append(delta: dict[str, Any], key: tuple[int, str, int], rest: str) -> None:
    """Add text a window let go to the delta, after what the delta holds."""
    _, name, at = key
    if name in STREAMED_TEXT:
        delta[name] = (delta[name] if type(delta.get(name)) is str else "") + rest
        return
    if name == "function_call":
        function = delta.get("function_call")
        if type(function) is not dict:
            function = delta["function_call"] = {}
        function["arguments"] = (function["arguments"] if type(function.get("arguments")) is str else "") + rest
        return
    calls = delta.get("tool_calls")
    if type(calls) is not list:
        calls = delta["tool_calls"] = []
    for position, call in enumerate(calls):
        if type(call) is dict and (call.get("index") if type(call.get("index")) is int else position) == at:
            function = call.get("function")
            if type(function) is not dict:
                function = call["function"] = {}
            function["arguments"] = (function["arguments"] if type(function.get("arguments")) is str else "") + rest
            return
    calls.append({"index": at, "function": {"arguments": rest}})


@functools.lru_cache(maxsize=256)
def redactor_for(credential: str) -> Redactor:
    return Redactor(credential)
