"""The official openai SDK works unchanged through the gateway, non-streamed
and streamed, with tools, temperature, max_tokens and seed passed through;
the model is rewritten to the lab's endpoint model and the caller's token
never reaches the upstream."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.gateway.conftest import CREDENTIAL

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "execute_trade",
            "description": "Buy or sell a stock.",
            "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}, "required": ["ticker"]},
        },
    }
]


def sdk(scene, secret=None) -> openai.OpenAI:
    return openai.OpenAI(base_url=scene.base_url, api_key=secret or scene.secret, max_retries=0, timeout=10)


def test_non_streamed_completion_with_parameters_passed_through(scene):
    reply = sdk(scene).chat.completions.create(
        model=scene.model,
        messages=[{"role": "user", "content": "Hi"}],
        temperature=0.7,
        max_tokens=32,
        seed=42,
    )
    assert reply.choices[0].message.content == "Hello from upstream."
    assert reply.usage.total_tokens == 12
    [seen] = scene.upstream.requests
    assert seen["path"] == "/v1/chat/completions"
    assert seen["json"]["model"] == "upstream-model-7b"  # rewritten to the endpoint's model
    assert (seen["json"]["temperature"], seen["json"]["max_tokens"], seen["json"]["seed"]) == (0.7, 32, 42)
    assert seen["headers"]["authorization"] == f"Bearer {CREDENTIAL}"
    assert scene.secret not in str(seen["headers"])  # the gateway token stays at the gateway


def test_tool_calls_non_streamed(scene):
    reply = sdk(scene).chat.completions.create(
        model=scene.model, messages=[{"role": "user", "content": "Trade"}], tools=TOOLS, tool_choice="auto"
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "execute_trade"
    assert call.function.arguments == '{"ticker": "LING"}'
    assert scene.upstream.requests[0]["json"]["tools"] == TOOLS
    assert scene.upstream.requests[0]["json"]["tool_choice"] == "auto"


def test_streamed_completion(scene):
    stream = sdk(scene).chat.completions.create(
        model=scene.model, messages=[{"role": "user", "content": "Hi"}], stream=True, temperature=0.2, seed=1
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello world"
    seen = scene.upstream.requests[0]["json"]
    assert seen["stream"] is True and seen["temperature"] == 0.2 and seen["seed"] == 1


def test_streamed_tool_calls(scene):
    stream = sdk(scene).chat.completions.create(
        model=scene.model, messages=[{"role": "user", "content": "Trade"}], tools=TOOLS, stream=True
    )
    args = ""
    name = None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or []:
            name = call.function.name or name
            args += call.function.arguments or ""
    assert name == "execute_trade"
    assert args == '{"ticker": "LING"}'


def test_models_lists_only_what_the_token_may_call(scene):
    models = sdk(scene).models.list()
    assert [m.id for m in models.data] == [scene.model]
    assert sdk(scene).models.retrieve(scene.model).id == scene.model


def test_the_system_version_uuid_is_accepted_as_model(scene):
    reply = sdk(scene).chat.completions.create(model=str(scene.sv.pk), messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content


def test_another_model_is_not_found(scene):
    with pytest.raises(openai.NotFoundError) as err:
        sdk(scene).chat.completions.create(model="borealis/other/v1", messages=[{"role": "user", "content": "Hi"}])
    assert err.value.body["code"] == "model_not_found"
    assert scene.upstream.requests == []


def test_missing_or_unknown_token_is_401(scene):
    assert httpx.get(scene.base_url + "/models").status_code == 401
    with pytest.raises(openai.AuthenticationError):
        sdk(scene, secret="sgw_not-a-real-token").models.list()
    r = httpx.post(scene.base_url + "/chat/completions", headers={"Authorization": "Bearer sg_api_token"}, json={})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"


def test_bad_json_is_400(scene):
    r = httpx.post(scene.base_url + "/chat/completions", headers=scene.headers(), content=b"{nope")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(scene.base_url + "/chat/completions", headers=scene.headers(), json=["a list"])
    assert r.status_code == 400


def test_unknown_path_and_wrong_method(scene):
    assert httpx.get(scene.base_url + "/embeddings", headers=scene.headers()).status_code == 404
    assert httpx.get(scene.base_url + "/chat/completions", headers=scene.headers()).status_code == 405


def test_a_caller_that_hangs_up_after_the_end_marker_completed_its_call(scene):
    """The openai SDK closes the connection once it has read `data: [DONE]`;
    an upstream that keeps the connection open a moment longer (llama.cpp's
    server does) made the gateway record a complete answer as a 499."""
    from gateway.models import GatewayCall
    from gateway.services import access_log_drain

    scene.upstream.mode = "linger_after_done"
    stream = sdk(scene).chat.completions.create(
        model=scene.model, messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "Hello world"
    stream.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        access_log_drain()
        if GatewayCall.objects.exists():
            break
        time.sleep(0.1)
    assert list(GatewayCall.objects.values_list("stream", "status_code", "error_code")) == [(True, 200, "")]
