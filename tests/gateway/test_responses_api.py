"""The Responses API (``POST /gateway/v1/responses``) over a lab's
chat-completions endpoint: the openai SDK and Inspect AI's ``openai/``
provider work unchanged against the real gateway and the scripted upstream;
each call goes one way through admission, limits, the upstream hop and the
access log, as a chat completion does; what cannot be translated is a 400
before anything goes upstream; the lab's credential never reaches the caller."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import openai
import pytest
from django.test import override_settings

from gateway.models import GatewayCall
from gateway.services import access_log_drain
from tests.gateway.conftest import CREDENTIAL, build

TOOLS = [
    {
        "type": "function",
        "name": "execute_trade",
        "description": "Buy or sell a stock.",
        "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}, "required": ["ticker"]},
    }
]
CHAT_TOOLS = [{"type": "function", "function": {k: v for k, v in TOOLS[0].items() if k != "type"}}]

STREAM_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def sdk(scene, secret=None) -> openai.OpenAI:
    return openai.OpenAI(base_url=scene.base_url, api_key=secret or scene.secret, max_retries=0, timeout=10)


def post(scene, body: dict, path: str = "/responses") -> httpx.Response:
    raw = json.dumps(body).encode()
    return httpx.post(scene.base_url + path, headers=scene.headers(), content=raw, timeout=10)


def sse(raw: bytes) -> list[dict]:
    """The data of each event of a Responses event stream, checking that each
    event's name is its data's type."""
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = block.split("\n")
        body = json.loads(data.removeprefix("data: "))
        assert name == "event: " + body["type"]
        out.append(body)
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def logged(count: int) -> list[GatewayCall]:
    """The access log once ``count`` calls are in it, oldest first (a call is
    settled just after its caller has the answer)."""
    deadline = time.monotonic() + 10
    while True:
        access_log_drain()
        calls = list(GatewayCall.objects.order_by("created_at"))
        if len(calls) >= count or time.monotonic() > deadline:
            return calls
        time.sleep(0.05)


# The openai SDK, unchanged


def test_text_non_streamed(scene):
    reply = sdk(scene).responses.create(
        model=scene.model,
        input="Hi",
        instructions="Be brief.",
        temperature=0.3,
        top_p=0.9,
        max_output_tokens=32,
        store=False,
    )
    assert reply.output_text == "Hello from upstream."
    assert (reply.object, reply.status, reply.model) == ("response", "completed", scene.model)
    assert reply.id.startswith("resp_") and reply.created_at > 0
    [message] = reply.output
    assert (message.type, message.role, message.content[0].type) == ("message", "assistant", "output_text")
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (7, 5, 12)
    [seen] = scene.upstream.requests
    assert seen["path"] == "/v1/chat/completions"  # the lab's endpoint only ever sees chat completions
    assert seen["json"] == {
        "model": "upstream-model-7b",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 32,
    }
    assert seen["headers"]["authorization"] == f"Bearer {CREDENTIAL}"
    assert scene.secret not in str(seen["headers"])


def test_message_items_and_json_schema_are_translated(scene):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    sdk(scene).responses.create(
        model=scene.model,
        input=[
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Rules."}]},
            {"role": "user", "content": "Question?"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Earlier."}]},
            {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
        ],
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}},
    )
    seen = scene.upstream.requests[0]["json"]
    assert seen["messages"] == [
        {"role": "system", "content": "Rules."},
        {"role": "user", "content": "Question?"},
        {"role": "assistant", "content": "Earlier."},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    ]
    assert seen["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }


def test_text_streamed(scene):
    stream = sdk(scene).responses.create(model=scene.model, input="Hi", stream=True)
    events = list(stream)
    assert [e.type for e in events] == STREAM_EVENTS
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Hello world"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1].response
    assert (done.status, done.output_text, done.usage.total_tokens) == ("completed", "Hello world", 12)
    assert events[0].response.id == done.id
    seen = scene.upstream.requests[0]["json"]
    assert seen["stream"] is True and seen["stream_options"] == {"include_usage": True}


def test_the_sdk_stream_helper_assembles_the_answer(scene):
    with sdk(scene).responses.stream(model=scene.model, input="Hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == "Hello world"
    assert final.output[0].status == "completed"


def test_function_call_round_trip(scene):
    client = sdk(scene)
    first = client.responses.create(
        model=scene.model, input=[{"role": "user", "content": "Trade"}], tools=TOOLS, tool_choice="auto"
    )
    [call] = first.output
    assert (call.type, call.name, call.arguments, call.call_id) == (
        "function_call",
        "execute_trade",
        '{"ticker": "LING"}',
        "call_1",
    )
    assert first.output_text == ""
    second = client.responses.create(
        model=scene.model,
        input=[
            {"role": "user", "content": "Trade"},
            *[item.model_dump(exclude_none=True) for item in first.output],  # replayed as the SDK returned it
            {"type": "function_call_output", "call_id": call.call_id, "output": "bought LING"},
        ],
        tools=TOOLS,
    )
    assert second.output_text == "The tool said: bought LING"
    one, two = (r["json"] for r in scene.upstream.requests)
    assert one["tools"] == CHAT_TOOLS and one["tool_choice"] == "auto"
    assert two["messages"] == [
        {"role": "user", "content": "Trade"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "execute_trade", "arguments": '{"ticker": "LING"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "bought LING"},
    ]


def test_function_call_streamed(scene):
    events = list(sdk(scene).responses.create(model=scene.model, input="Trade", tools=TOOLS, stream=True))
    types = [e.type for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added, done = events[2].item, events[5].item
    assert (added.type, added.name, added.call_id, added.id) == ("function_call", "execute_trade", "call_1", done.id)
    assert events[4].arguments == done.arguments == '{"ticker": "LING"}'
    [call] = events[-1].response.output
    assert (call.name, call.arguments, call.status) == ("execute_trade", '{"ticker": "LING"}', "completed")


@pytest.mark.parametrize("stream", [False, True])
def test_the_length_limit_makes_an_incomplete_response(scene, stream):
    scene.upstream.mode = "length"
    reply = post(scene, {"model": scene.model, "input": "Hi", "max_output_tokens": 2, "stream": stream})
    response = sse(reply.content)[-1]["response"] if stream else reply.json()
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}


# Inspect AI, unchanged


def _inspect_eval(scene, tmp_path, monkeypatch, *, how: str, target: str, tools: bool = False, **model_args):
    """Run a one-sample Inspect task against the gateway; its sample.

    ``how``: ``"env"`` names the model and takes the base URL and the token from
    OPENAI_BASE_URL and OPENAI_API_KEY, as an auditor's shell would;
    ``"base_url"`` passes the base URL to eval() and the token in
    OPENAI_API_KEY; ``"model"`` builds the model with its own api_key. Inspect
    keeps named models for the session, keyed on name, base URL and args but
    not on the key: the first two are used once each per session."""
    import inspect_ai
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.model import get_model
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate, use_tools
    from inspect_ai.tool import tool

    @tool
    def execute_trade():
        async def execute(ticker: str) -> str:
            """Buy a stock.

            Args:
                ticker: The stock's ticker symbol.
            """
            return f"bought {ticker}"

        return execute

    solver = [use_tools(execute_trade()), generate()] if tools else [generate()]
    task = Task(dataset=[Sample(input="Say hello.", target=target)], solver=solver, scorer=includes())
    name = f"openai/{scene.model}"
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    options: dict = {}
    if how == "env":
        # Named from the environment, the model's memo key holds neither the
        # base URL nor the key: the session's other data plane (tests/gateway/planes.py)
        # would otherwise get the model made for the first one, and its stopped server.
        from inspect_ai.model import _model as inspect_models

        monkeypatch.setattr(inspect_models, "_models", {})
        monkeypatch.setenv("OPENAI_BASE_URL", scene.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", scene.secret)
        options = {"model": name, "model_args": model_args}
    elif how == "base_url":
        monkeypatch.setenv("OPENAI_API_KEY", scene.secret)
        options = {"model": name, "model_base_url": scene.base_url, "model_args": model_args}
    else:
        model = get_model(name, base_url=scene.base_url, api_key=scene.secret, memoize=False, **model_args)
        options = {"model": model}
    [log] = inspect_ai.eval(task, log_dir=str(tmp_path), display="none", max_retries=0, **options)
    assert log.status == "success", log.error
    [sample] = log.samples
    return sample


@pytest.mark.parametrize(
    ("how", "model_args"),
    [("base_url", {"responses_api": True}), ("env", {}), ("model", {"responses_api": True, "streaming": True})],
    ids=["responses_api", "default_settings", "streamed"],
)
def test_inspect_eval_through_the_gateway(scene, tmp_path, monkeypatch, how, model_args):
    text = "Hello world" if model_args.get("streaming") else "Hello from upstream."
    sample = _inspect_eval(scene, tmp_path, monkeypatch, how=how, target=text, **model_args)
    assert sample.output.completion == text  # the upstream's words, through the translation
    assert sample.scores["includes"].value == "C"
    assert sample.output.usage.output_tokens == 5
    [seen] = scene.upstream.requests
    assert seen["json"]["messages"][-1] == {"role": "user", "content": "Say hello."}
    assert seen["json"].get("stream") is (True if model_args.get("streaming") else None)
    calls = logged(2)
    # Inspect first asks once whether reasoning summaries are available (a 400
    # here: the lab's endpoint has none), then makes the call, all through
    # /responses: for a model id it does not know, the Responses API is its default.
    assert [(c.path, c.status_code, c.error_code) for c in calls] == [
        ("/gateway/v1/responses", 400, "unsupported_parameter"),
        ("/gateway/v1/responses", 200, ""),
    ]


def test_inspect_tool_round_trip_through_the_gateway(scene, tmp_path, monkeypatch):
    target = "The tool said: bought LING"
    sample = _inspect_eval(scene, tmp_path, monkeypatch, how="model", target=target, tools=True, responses_api=True)
    assert sample.output.completion == target
    assert sample.scores["includes"].value == "C"
    tool_messages = [m for m in sample.messages if m.role == "tool"]
    assert [m.text for m in tool_messages] == ["bought LING"]  # Inspect ran the tool the upstream called
    assert [r["json"]["messages"][-1]["role"] for r in scene.upstream.requests] == ["user", "tool"]


# The access log


def test_calls_are_logged_with_the_callers_digests_and_route(scene):
    body = {"model": scene.model, "input": "What is 2+2?", "store": False}
    raw = json.dumps(body).encode()
    plain = post(scene, body)
    streamed_raw = json.dumps({**body, "stream": True}).encode()
    streamed = httpx.post(scene.base_url + "/responses", headers=scene.headers(), content=streamed_raw, timeout=10)
    assert (plain.status_code, streamed.status_code) == (200, 200)
    assert sse(streamed.content)[-1]["type"] == "response.completed"
    ok, st = logged(2)
    assert (ok.path, ok.method, ok.stream, ok.status_code, ok.error_code) == (
        "/gateway/v1/responses",
        "POST",
        False,
        200,
        "",
    )
    assert ok.request_sha256 == sha(raw)  # the bytes the caller sent, not the translated request
    assert ok.response_sha256 == sha(plain.content)  # the bytes the caller got, not the upstream's
    assert ok.request_sha256 != sha(scene.upstream.requests[0]["raw"])
    assert (ok.prompt_tokens, ok.completion_tokens, ok.total_tokens) == (7, 5, 12)
    assert ok.upstream_model == "upstream-model-7b" and ok.token_id == scene.token.pk
    assert (st.path, st.stream, st.status_code) == ("/gateway/v1/responses", True, 200)
    assert st.request_sha256 == sha(streamed_raw)
    assert st.response_sha256 == sha(streamed.content)
    assert (st.prompt_tokens, st.completion_tokens, st.total_tokens) == (7, 5, 12)


def test_a_stream_that_breaks_ends_with_a_failed_response_and_is_logged(scene):
    scene.upstream.mode = "stream_cut"
    r = post(scene, {"model": scene.model, "input": "Hi", "stream": True})
    events = sse(r.content)
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "upstream_error"
    [call] = logged(1)
    assert (call.status_code, call.error_code, call.response_sha256) == (502, "upstream_error", sha(r.content))


def test_an_error_reported_mid_stream_fails_the_response(scene):
    scene.upstream.mode = "stream_error"
    events = sse(post(scene, {"model": scene.model, "input": "Hi", "stream": True}).content)
    assert [e["type"] for e in events][-2:] == ["response.output_text.delta", "response.failed"]
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Hello"  # what had gone out
    [call] = logged(1)
    assert (call.status_code, call.error_code) == (502, "upstream_error")


def test_an_answer_that_is_no_event_stream_fails_the_response(scene):
    scene.upstream.mode = "not_a_completion"  # JSON, though a stream was asked for
    events = sse(post(scene, {"model": scene.model, "input": "Hi", "stream": True}).content)
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"]["code"] == "upstream_malformed"
    [call] = logged(1)
    assert (call.status_code, call.error_code) == (502, "upstream_malformed")


def test_a_translated_stream_is_bounded_like_a_whole_answer(scene):
    with override_settings(STAGEGATE_GATEWAY_MAX_RESPONSE_BYTES=300):
        events = sse(post(scene, {"model": scene.model, "input": "Hi", "stream": True}).content)
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "upstream_response_too_large"
    [call] = logged(1)
    assert (call.status_code, call.error_code) == (502, "upstream_response_too_large")


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("error500", 502, "upstream_error"),
        ("auth401", 502, "upstream_auth_failed"),
        ("malformed", 502, "upstream_malformed"),
    ],
)
def test_upstream_failures_are_the_same_errors(scene, mode, status, code):
    scene.upstream.mode = mode
    scene.upstream.echo = CREDENTIAL
    r = post(scene, {"model": scene.model, "input": "Hi"})
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert CREDENTIAL not in r.text
    [call] = logged(1)
    assert (call.path, call.status_code, call.error_code) == ("/gateway/v1/responses", status, code)


def test_an_upstream_answer_that_is_no_chat_completion_is_a_502_and_its_usage_is_charged(scene):
    scene.upstream.mode = "not_a_completion"  # JSON, with usage, but no choices
    r = post(scene, {"model": scene.model, "input": "Hi"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_malformed"
    [call] = logged(1)
    assert (call.status_code, call.error_code, call.total_tokens) == (502, "upstream_malformed", 12)


# Quota and limits


def test_the_daily_token_quota_is_shared_with_chat_completions(reference_data, upstream, gateway_url):
    upstream.reset()
    scene = build(upstream, gateway_url, tokens_per_day=200)
    upstream.usage = {"prompt_tokens": 145, "completion_tokens": 5, "total_tokens": 150}
    first = post(scene, {"model": scene.model, "input": "x", "max_output_tokens": 5})
    assert first.status_code == 200  # uses 150 tokens: less than any call reserves is left
    chat = post(
        scene,
        {"model": scene.model, "messages": [{"role": "user", "content": "x"}], "max_tokens": 5},
        "/chat/completions",
    )
    again = post(scene, {"model": scene.model, "input": "x", "max_output_tokens": 5})
    for refused in (chat, again):
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "token_quota_exceeded"
        assert int(refused.headers["retry-after"]) >= 1
    assert len(upstream.requests) == 1
    assert [c.status_code for c in logged(3)] == [200, 429, 429]


def test_the_rate_limit_counts_both_routes(reference_data, upstream, gateway_url):
    upstream.reset()
    scene = build(upstream, gateway_url, requests_per_minute=2)
    chat = post(scene, {"model": scene.model, "messages": [{"role": "user", "content": "x"}]}, "/chat/completions")
    assert chat.status_code == 200
    assert post(scene, {"model": scene.model, "input": "x"}).status_code == 200
    r = post(scene, {"model": scene.model, "input": "x"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert len(upstream.requests) == 2


def test_refusals_before_the_translation_are_the_chat_routes(scene):
    assert httpx.post(scene.base_url + "/responses", json={"model": scene.model, "input": "x"}).status_code == 401
    assert httpx.get(scene.base_url + "/responses", headers=scene.headers()).status_code == 405
    other = post(scene, {"model": "borealis/other/v1", "input": "x"})
    assert other.status_code == 404 and other.json()["error"]["code"] == "model_not_found"
    bad = httpx.post(scene.base_url + "/responses", headers=scene.headers(), content=b"{nope")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    assert scene.upstream.requests == []


# What cannot be translated


UNSUPPORTED = {
    "reasoning_item": (
        {"input": [{"type": "reasoning", "id": "rs_1", "summary": []}, {"role": "user", "content": "x"}]},
        "input[0]",
        "unsupported_item",
    ),
    "web_search_tool": ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0]", "unsupported_tool"),
    "image": (
        {
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}],
                }
            ]
        },
        "input[0].content[0]",
        "unsupported_content",
    ),
    "store_true": ({"input": "x", "store": True}, "store", "unsupported_parameter"),
    "previous_response_id": ({"input": "x", "previous_response_id": "resp_1"}, "previous_response_id", None),
    "reasoning_summary": ({"input": "x", "reasoning": {"effort": "low", "summary": "auto"}}, "reasoning.summary", None),
    "background": ({"input": "x", "background": True}, "background", None),
    "logprobs": ({"input": "x", "include": ["message.output_text.logprobs"]}, "include[0]", None),
    "item_reference": ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]", "unsupported_item"),
    "unknown_field": ({"input": "x", "frobnicate": 1}, "frobnicate", None),
    "no_input": ({}, "input", "invalid_request"),
    "hosted_tool_choice": (
        {"input": "x", "tool_choice": {"type": "web_search_preview"}},
        "tool_choice",
        "unsupported_tool",
    ),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED), ids=list(UNSUPPORTED))
def test_what_cannot_be_translated_is_a_400_and_nothing_goes_upstream(scene, case):
    extra, param, code = UNSUPPORTED[case]
    r = post(scene, {"model": scene.model, **extra})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]
    assert error["code"] == (code or "unsupported_parameter")
    assert scene.upstream.requests == []
    [call] = logged(1)
    assert (call.path, call.status_code, call.error_code) == ("/gateway/v1/responses", 400, error["code"])
    assert call.total_tokens == 0  # nothing charged


def test_the_sdk_sees_a_bad_request_not_a_server_error(scene):
    with pytest.raises(openai.BadRequestError) as err:
        sdk(scene).responses.create(model=scene.model, input="x", tools=[{"type": "web_search"}])
    assert err.value.body["code"] == "unsupported_tool"
    assert "function tools only" in err.value.body["message"]


def test_reasoning_effort_alone_is_passed_on(scene):
    sdk(scene).responses.create(model=scene.model, input="x", reasoning={"effort": "low"})
    assert scene.upstream.requests[0]["json"]["reasoning_effort"] == "low"


# The lab's credential


def test_the_stream_window_redacts_a_secret_split_anywhere_and_holds_back_nothing_else():
    from gateway.proxy.redact import REDACTED, Redactor

    secret = "sk-abcsk"  # it can begin inside itself
    text = "xx sk-ab sk-abcsk s sk-abcsksk-abcsk end sk-abcs"
    redactor = Redactor(secret)
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            window = redactor.window()
            out = "".join(window.push(piece) for piece in (text[:i], text[i:j], text[j:])) + window.flush()
            assert out == redactor.scrub(text), (i, j)
            assert secret not in out and REDACTED in out
    window = redactor.window()
    assert window.push("Hello world") == "Hello world"  # nothing that could begin it waits
    assert window.push(" then s") == " then "
    assert window.push("k-abcs") == ""
    assert window.push("k!") == REDACTED + "!"


def test_the_credential_is_redacted_from_a_translated_answer(scene):
    scene.upstream.mode = "leak"
    scene.upstream.echo = CREDENTIAL
    r = post(scene, {"model": scene.model, "input": "x"})
    assert CREDENTIAL not in r.text
    assert r.json()["output"][0]["content"][0]["text"] == "Your key is [redacted]."


def test_the_credential_is_redacted_even_when_the_upstream_escapes_it(scene):
    scene.upstream.mode = "leak_escaped"
    scene.upstream.echo = CREDENTIAL
    r = post(scene, {"model": scene.model, "input": "x"})
    assert CREDENTIAL not in r.text
    assert r.json()["output"][0]["content"][0]["text"] == "Your key is [redacted]."


def test_the_credential_is_redacted_from_a_stream_even_split_across_chunks(scene):
    scene.upstream.mode = "leak"
    scene.upstream.echo = CREDENTIAL
    r = post(scene, {"model": scene.model, "input": "x", "stream": True})
    assert CREDENTIAL not in r.text
    half = CREDENTIAL[: len(CREDENTIAL) // 2]
    assert half not in r.text  # not even the half the upstream sent in one chunk
    events = sse(r.content)
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == "Your key is [redacted]."
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == deltas
