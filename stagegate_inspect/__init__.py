"""Run Inspect AI through a Stagegate gateway and keep what the gateway can
check: the ``stagegate`` model provider.

It is Inspect's OpenAI-compatible provider with one addition: every HTTP
exchange with the gateway is recorded, as sent and as received, into the
sample's transcript (an ``info`` event from source ``stagegate-calls``). The
raw bytes let Stagegate prove a log was not fabricated: their SHA-256 digests
are what the gateway's access log stores for each call, so an uploaded log is
accepted as evidence only when its calls and the gateway's record agree.

    pip install -e <stagegate checkout>      # registers the provider with Inspect
    export STAGEGATE_BASE_URL=https://stagegate.example/gateway/v1
    export STAGEGATE_API_KEY=sg_...            # a gateway token for the audit
    inspect eval <task> --model stagegate/<lab>/<system>/v<N> --log-format eval

Stagegate's managed runs use the same provider, so both kinds of log carry the
same record. The record's format is versioned (``CALLS_FORMAT``)."""

from __future__ import annotations

from stagegate_inspect.calls import CALLS_FORMAT, CALLS_SOURCE, call_records

__all__ = ["CALLS_FORMAT", "CALLS_SOURCE", "call_records"]
