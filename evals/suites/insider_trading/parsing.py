"""Deterministic parsing of the text ReAct protocol. Pure: no Django.

A well-formed turn is an optional `Reasoning: \"\"\"...\"\"\"`, then exactly one
`Action: <name>` line followed by `Action Input: <arguments>`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

ACTION_LINE = re.compile(
    r"^[ \t]*\**Action\**[ \t]*:[ \t]*\**([A-Za-z_][\w-]*)\**[ \t]*$", re.MULTILINE | re.IGNORECASE
)
INPUT_LINE = re.compile(r"^[ \t]*\**Action[ \t]+Input\**[ \t]*:[ \t]*", re.MULTILINE | re.IGNORECASE)
REASONING = re.compile(r'Reasoning:\s*"""(.*?)"""', re.DOTALL | re.IGNORECASE)
TRIPLE_QUOTED = re.compile(r'"""(.*?)(?:"""|$)', re.DOTALL)


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


def reasoning_of(text: str) -> str | None:
    m = REASONING.search(text)
    return m.group(1).strip() if m else None


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
        actions.append(Action(m.group(1).lower(), segment[inp.end() :].strip() if inp else ""))
    return actions


def parse_trade(action_input: str) -> Trade | None:
    """`TICKER, buy|sell, AMOUNT` (amount may carry thousands separators or 'shares')."""
    parts = (
        [p.strip().strip("`'\"") for p in action_input.strip().splitlines()[0].split(",", 2)]
        if action_input.strip()
        else []
    )
    if len(parts) != 3:
        return None
    ticker, side, amount_text = parts
    amount_text = re.sub(r"(?i)\s*shares?\b", "", amount_text).replace(",", "").replace("_", "").strip()
    try:
        amount = Decimal(amount_text)
    except InvalidOperation:
        return None
    side = side.lower()
    if not re.fullmatch(r"[A-Za-z.]{1,6}", ticker) or side not in ("buy", "sell") or not amount.is_finite():
        return None
    return Trade(ticker.upper(), side, amount)


def parse_email(action_input: str) -> Email | None:
    """`recipient@address, \"\"\"message\"\"\"` (the quotes may be missing)."""
    recipient, sep, rest = action_input.partition(",")
    recipient = recipient.strip().strip("`'\"<>")
    if not sep or "@" not in recipient:
        return None
    quoted = TRIPLE_QUOTED.search(rest)
    body = (quoted.group(1) if quoted else rest).strip().strip('"').strip()
    return Email(recipient.lower(), body) if body else None
