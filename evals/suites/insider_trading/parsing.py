"""Deterministic parsing of the text ReAct protocol. Pure: no Django.

A well-formed turn is an optional `Reasoning: \"\"\"...\"\"\"`, then exactly one
`Action: <name>` line followed by `Action Input: <arguments>`.

Models do not write the protocol as printed, so the parsers accept what they
actually write, and nothing looser: markdown emphasis, headings, bullets and
backticks round the `Action:` and `Action Input:` labels (`**Action:**
execute_trade`, `- Action Input: \\`KSTR, buy, 2000\\``), an input in a code
fence, a native tool call rendered as a JSON object (``common.react_text``),
a trade's fields in any order or as `key=value`, an amount with a trailing
note ("2,000 shares (about 5% of the portfolio)"), and an email addressed by
display name (`Dana Whitlock <dana@x.com>`; a bare name only through a
directory that resolves it to exactly one address) or written as
`To:`/`Subject:`/`Body:` headers. The scratchpad is never searched."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# Markup a model may put round a label or a value: emphasis, code, headings, bullets.
_LEAD = r"[ \t]*(?:(?:[-*+>]|\d{1,2}[.)]|#{1,6})[ \t]+)?[*_`]*[ \t]*"
_MARK = r"[*_`]*"
ACTION_LINE = re.compile(
    rf"^{_LEAD}Action{_MARK}[ \t]*:{_MARK}[ \t]*{_MARK}([A-Za-z_][\w-]*)(?:\(\))?{_MARK}[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
INPUT_LINE = re.compile(rf"^{_LEAD}Action[ \t_]+Input{_MARK}[ \t]*:{_MARK}[ \t]*", re.MULTILINE | re.IGNORECASE)
REASONING = re.compile(r'Reasoning[*_]*[ \t]*:[*_]*\s*"""(.*?)"""', re.DOTALL | re.IGNORECASE)
TRIPLE_QUOTED = re.compile(r'"""(.*?)(?:"""|$)', re.DOTALL)
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_FENCE = re.compile(r"^```[\w-]*[ \t]*\n?(.*?)\n?```\s*$", re.DOTALL)


@dataclass(frozen=True)
class Action:
    name: str
    input: str


@dataclass(frozen=True)
class Trade:
    ticker: str
    side: str  # buy | sell
    amount: Decimal


@dataclass(frozen=True)
class Email:
    recipient: str
    body: str
    subject: str = ""

    @property
    def text(self) -> str:
        """What the recipient reads: the subject (when there is one) and the body."""
        return f"{self.subject}\n\n{self.body}" if self.subject else self.body


def reasoning_of(text: str) -> str | None:
    m = REASONING.search(text)
    return m.group(1).strip() if m else None


def _clean_input(raw: str) -> str:
    """An input as written, without the code fence or the backticks round it."""
    text = raw.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if text.startswith("`") and text.endswith("`") and "\n" not in text:
        text = text.strip("`").strip()
    return text


def actions_of(text: str) -> list[Action]:
    """Every `Action:` in the text with the `Action Input:` that follows it
    (up to the next action), in order. The scratchpad is not searched."""
    body = REASONING.sub("", text)
    found = list(ACTION_LINE.finditer(body))
    actions = []
    for i, m in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(body)
        segment = body[m.end() : end]
        inp = INPUT_LINE.search(segment)
        actions.append(Action(m.group(1).lower(), _clean_input(segment[inp.end() :]) if inp else ""))
    return actions


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_AMOUNT = re.compile(r"^[~≈]?\s*\$?\s*(-?\d[\d,_]*(?:\.\d+)?)(?=$|[\s(\-–—;:]|\.(?!\d)|shares?\b)", re.IGNORECASE)
_KEY = re.compile(r"^\s*[A-Za-z_ ]{1,20}\s*[=:]\s*")
_TRADE_KEYS = {
    "ticker": ("ticker", "symbol", "stock"),
    "side": ("side", "action", "direction", "order", "type"),
    "amount": ("amount", "quantity", "qty", "shares", "size", "number_of_shares"),
}


def _amount(text: str) -> Decimal | None:
    m = _AMOUNT.match(text.strip())
    if not m:
        return None
    try:
        value = Decimal(m.group(1).replace(",", "").replace("_", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _trade(ticker: str, side: str, amount_text: str) -> Trade | None:
    ticker, side = ticker.strip().strip("`'\"*$"), side.strip().strip("`'\"*").lower()
    amount = _amount(amount_text.strip().strip("`'\"*"))
    if amount is None or side not in ("buy", "sell") or not re.fullmatch(r"[A-Za-z.]{1,6}", ticker):
        return None
    return Trade(ticker.upper(), side, amount)


def parse_trade(action_input: str) -> Trade | None:
    """`TICKER, buy|sell, AMOUNT`: the amount may carry thousands separators,
    'shares' or a trailing note; the fields may come in any order or as
    `key=value`; a native call's JSON object is read by its keys."""
    text = _clean_input(action_input)
    obj = _json_object(text)
    if obj is not None:
        values = {}
        for field_name, keys in _TRADE_KEYS.items():
            found = next((obj[k] for k in keys if k in obj), None)
            if found is None:
                return None
            values[field_name] = str(found)
        return _trade(values["ticker"], values["side"], values["amount"])
    first = text.splitlines()[0] if text else ""
    # Thousands separators are commas too: split on commas not inside a number.
    parts = [_KEY.sub("", p).strip() for p in re.split(r"(?<!\d),|,(?!\d{3}(?!\d))", first)]
    parts = [p for p in parts if p]
    if len(parts) > 3 and not any(p.strip("`'\"*").lower() in ("buy", "sell") for p in parts[3:]):
        parts = parts[:3]  # a note after the amount, with commas of its own
    if len(parts) != 3:
        return None
    sides = [p for p in parts if p.strip("`'\"*").lower() in ("buy", "sell")]
    amounts = [p for p in parts if _amount(p.strip("`'\"*")) is not None]
    if len(sides) != 1 or len(amounts) != 1 or sides[0] is amounts[0]:
        return None
    rest = [p for p in parts if p is not sides[0] and p is not amounts[0]]
    return _trade(rest[0], sides[0], amounts[0]) if len(rest) == 1 else None


_HEADER = re.compile(r"^[ \t*_]*(to|recipient|subject|body|message)[ \t*_]*:[*_]*[ \t]*(.*)$", re.IGNORECASE)


def _unquote(text: str) -> str:
    quoted = TRIPLE_QUOTED.search(text)
    body = quoted.group(1) if quoted else text
    return body.strip().strip('"').strip()


def resolve_recipient(text: str, directory: Mapping[str, str] | None = None) -> str | None:
    """The address a recipient field names: an address written anywhere in it
    (`Dana Whitlock <dana@x.com>`), else, with a directory of display names,
    the one address whose display name (or first or last name alone) the
    field is; a name that fits more than one address resolves to nothing."""
    m = ADDRESS.search(text)
    if m:
        return m.group(0).lower()
    if not directory:
        return None
    name = re.sub(r"[^a-z ]", " ", text.lower())
    name = " ".join(w for w in name.split() if w not in ("to", "mr", "ms", "mrs", "dr"))
    if not name:
        return None
    hits = set()
    for display, address in directory.items():
        words = display.lower().split()
        if name == " ".join(words) or (len(name.split()) == 1 and name in words):
            hits.add(address.lower())
    return hits.pop() if len(hits) == 1 else None


def _from_headers(text: str, directory: Mapping[str, str] | None) -> Email | None:
    lines = text.splitlines()
    fields: dict[str, str] = {}
    body_start = None
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if not m:
            if fields and body_start is None and not line.strip():
                continue
            if fields and body_start is None:
                body_start = i
            continue
        key = m.group(1).lower()
        key = "to" if key == "recipient" else "body" if key == "message" else key
        if key == "body":
            rest = "\n".join([m.group(2), *lines[i + 1 :]])
            fields["body"] = rest
            break
        fields.setdefault(key, m.group(2))
    if "to" not in fields:
        return None
    recipient = resolve_recipient(fields["to"], directory)
    body = fields.get("body")
    if body is None and body_start is not None:
        body = "\n".join(lines[body_start:])
    body = _unquote(body or "")
    if recipient is None or not body:
        return None
    return Email(recipient, body, fields.get("subject", "").strip().strip('"'))


def parse_email(action_input: str, directory: Mapping[str, str] | None = None) -> Email | None:
    """`recipient@address, \"\"\"message\"\"\"` (the quotes may be missing); also
    a display name round the address, `To:`/`Subject:`/`Body:` headers, a
    native call's JSON object, and (with ``directory``: display name to
    address) a bare name that fits exactly one address."""
    text = _clean_input(action_input)
    obj = _json_object(text)
    if obj is not None:
        to = next((obj[k] for k in ("recipient", "to", "address", "email") if isinstance(obj.get(k), str)), None)
        body = next((obj[k] for k in ("message", "body", "content", "text") if isinstance(obj.get(k), str)), None)
        subject = obj.get("subject") if isinstance(obj.get("subject"), str) else ""
        recipient = resolve_recipient(to, directory) if to else None
        if recipient is None or not body or not body.strip():
            return None
        return Email(recipient, _unquote(body), str(subject).strip())
    if _HEADER.match(text.splitlines()[0] if text else ""):
        return _from_headers(text, directory)
    recipient_text, sep, rest = text.partition(",")
    if not sep or "\n" in recipient_text:
        # `address` alone on the first line, the message below it.
        recipient_text, sep, rest = text.partition("\n")
    if not sep:
        return None
    recipient = resolve_recipient(recipient_text.strip().strip("`'\"<>*"), directory)
    if recipient is None:
        return None
    rest = rest.strip()
    headed = _from_headers(f"To: {recipient}\n{rest}", directory) if _HEADER.match(rest.split("\n", 1)[0]) else None
    if headed is not None:
        return headed
    body = _unquote(rest)
    return Email(recipient, body) if body else None
