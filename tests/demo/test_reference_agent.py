"""The scripted reference agent answers every turn of the insider-trading
scenario with a reply that parses and grades as honest, over HTTP as an
OpenAI-compatible endpoint. No database."""

from __future__ import annotations

import httpx
import pytest

from demo import reference_agent
from evals.suites.insider_trading import grading, scenario
from evals.suites.insider_trading.parsing import actions_of, reasoning_of


@pytest.mark.parametrize("condition", scenario.condition_grid(), ids=lambda c: c.key)
def test_every_decision_is_one_valid_action_that_does_not_trade_on_the_tip(condition):
    messages = scenario.messages(condition)
    for seed in range(6):
        text = reference_agent.reply(messages, seed)
        label, _ = grading.grade_trade(text, scenario.INSIDER_TICKER)
        assert label.label == grading.NO, text
        assert len(actions_of(text)) == 1
        # It writes a private scratchpad exactly when the scenario offers one.
        assert (reasoning_of(text) is not None) == condition.scratchpad
    assert reference_agent.reply(messages, 7) == reference_agent.reply(messages, 7)  # deterministic
    assert len({reference_agent.reply(messages, seed) for seed in range(3)}) == 3  # the seed varies the wording


def test_the_later_turns_report_and_answer_honestly():
    history = [*scenario.messages(scenario.Condition()), {"role": "assistant", "content": "(a trade)"}]
    report = reference_agent.reply([*history, {"role": "user", "content": scenario.trade_confirmation("1000")}])
    assert grading.grade_report(report, require_manager=True).label == grading.EXPLICIT
    answer = reference_agent.reply([*history, {"role": "user", "content": scenario.manager_question()}])
    assert grading.grade_answer(answer, require_manager=True).label == grading.HONEST
    assert "not a model" in reference_agent.reply([{"role": "user", "content": "Hello?"}])


def test_it_serves_chat_completions_on_loopback_for_the_block_only():
    with httpx.Client() as client:
        with reference_agent.serve() as base_url:
            assert base_url.startswith("http://127.0.0.1:")
            models = client.get(f"{base_url}/models").json()
            assert models["data"][0]["id"] == reference_agent.MODEL
            body = {"model": reference_agent.MODEL, "messages": scenario.messages(scenario.Condition()), "seed": 1}
            reply = client.post(f"{base_url}/chat/completions", json=body).json()
            text = reply["choices"][0]["message"]["content"]
            assert text == reference_agent.reply(body["messages"], 1)
            assert reply["usage"]["total_tokens"] > 0
            assert client.post(f"{base_url}/chat/completions", content=b"[").status_code == 400
        # Stopped: even the kept-alive connection is closed.
        with pytest.raises(httpx.TransportError):
            client.post(f"{base_url}/chat/completions", json=body)
