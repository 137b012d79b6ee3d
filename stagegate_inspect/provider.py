"""The ``stagegate`` model provider: Inspect's OpenAI-compatible provider
whose HTTP client records every exchange into the sample's transcript."""

from __future__ import annotations

from typing import Any

from inspect_ai.log import transcript
from inspect_ai.model import GenerateConfig, modelapi
from inspect_ai.model._providers.openai_compatible import OpenAICompatibleAPI

from stagegate_inspect.calls import CALLS_SOURCE, record_of


def _recorder(tag: str | None) -> Any:
    async def record(response: Any) -> None:
        await _record(response, tag)

    return record


async def _record(response: Any, tag: str | None = None) -> None:
    # The SDK reads the body after this hook; reading it here first buffers it
    # (streams included), so the digest covers exactly what the caller got.
    await response.aread()
    request = response.request
    entry = record_of(
        method=request.method,
        path=request.url.path,
        status=response.status_code,
        request=request.content,
        response=response.content,
    )
    if tag:
        entry["tag"] = tag
    try:
        transcript().info(entry, source=CALLS_SOURCE)
    except Exception:  # noqa: S110 - outside a sample (model listing): nothing to record into
        pass


def recording_http_client(tag: str | None = None, **kwargs: Any) -> Any:
    """The OpenAI SDK's own async client (the same httpx flavour the SDK
    uses) with the recording hook; ``tag`` marks its records (a grader's)."""
    from openai import DefaultAsyncHttpxClient

    hooks = kwargs.pop("event_hooks", {}) or {}
    hooks = {**hooks, "response": [*hooks.get("response", []), _recorder(tag)]}
    return DefaultAsyncHttpxClient(event_hooks=hooks, **kwargs)


@modelapi(name="stagegate")
def stagegate() -> type[OpenAICompatibleAPI]:
    return StagegateAPI


class StagegateAPI(OpenAICompatibleAPI):
    """``stagegate/<lab>/<system>/v<N>``: base URL from ``STAGEGATE_BASE_URL``
    (or ``model_base_url``), token from ``STAGEGATE_API_KEY`` (or ``api_key``)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 - Inspect's own signature
        **model_args: Any,
    ) -> None:
        tag = model_args.pop("call_tag", None)
        model_args.setdefault("http_client", recording_http_client(tag, **model_args.pop("http_client_args", {})))
        super().__init__(
            model_name=model_name,
            base_url=base_url,
            api_key=api_key,
            config=config,
            service="stagegate",
            **model_args,
        )
