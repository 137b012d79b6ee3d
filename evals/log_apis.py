"""A run's Inspect logs (one ``.eval`` per shard attempt): listed and
downloaded by the running auditor organisation and the regulator, never the
lab, whose model's prompts and responses they hold (evals.permissions).

A log is evidence: a sign-off binds its SHA-256 through the run's results
digest. So no byte of it is sent before the whole file has been read and
matched against the SHA-256 and size recorded when it was kept; a file that
no longer matches is refused (409 ``log_altered``), never served. Verified
copies of small logs are kept in memory for a while, because Inspect's viewer
reads a log in many small ranges (evals/viewer.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.api import ERRORS, PROBLEM, CreatedCursorPagination, actor_of, paginated, problem
from core.errors import Conflict, NotFound
from core.permissions import VIEW, require
from evals import selectors
from evals.models import EvalLogFile, EvalRun, EvalSample

logger = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
# A log being checked stays in memory up to this size, then goes to a temporary file.
SPOOL_IN_MEMORY = 8 << 20
# Verified copies kept for the viewer's range reads: logs up to VERIFIED_MAX_LOG,
# VERIFIED_CACHE_BYTES in all (per process), least recently used dropped first.
VERIFIED_MAX_LOG = 16 << 20
VERIFIED_CACHE_BYTES = 128 << 20


# --- reads ------------------------------------------------------------------------


def eval_run_for_logs(*, actor: Actor, pk: Any) -> EvalRun:
    """The run whose logs the actor asks for: 404 when the run is out of the
    actor's sight, 403 when it is in sight but its transcripts are not (the
    lab's own runs). The rule is the transcripts' own (eval_sample_scope),
    asked of the run's samples, which exist from the moment the run starts."""
    run = selectors.eval_run_get(actor=actor, pk=pk)
    require(
        EvalSample.objects.visible_to(actor, VIEW).filter(run=run).exists(),
        "A run's logs hold the prompts and responses of the auditors' tests: only the running organisation "
        "and the regulator may read them.",
        code="transcripts_forbidden",
    )
    return run


def eval_log_list(*, actor: Actor, run: EvalRun) -> QuerySet[EvalLogFile]:
    return EvalLogFile.objects.visible_to(actor, VIEW).filter(run=run).select_related("shard")


def eval_log_get(*, actor: Actor, run: EvalRun, name: str) -> EvalLogFile:
    try:
        return eval_log_list(actor=actor, run=run).get(name=name)
    except EvalLogFile.DoesNotExist:
        raise NotFound("Log not found.") from None


class _VerifiedCopies:
    """Bytes already matched against their recorded SHA-256, keyed by (log, SHA-256):
    what is served from here is exactly what was recorded, whatever happens to
    the stored file meanwhile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[int, str]) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple[int, str], data: bytes) -> None:
        if len(data) > min(VERIFIED_MAX_LOG, VERIFIED_CACHE_BYTES):
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = data
            self._bytes += len(data)
            while self._bytes > VERIFIED_CACHE_BYTES:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


verified_copies = _VerifiedCopies()


def eval_log_open(*, log: EvalLogFile) -> IO[bytes]:
    """The log's bytes, read whole (through fsspec: a path or s3://…) and
    matched against the recorded SHA-256 and size before the caller sees any
    of them. Refuses with 409 ``log_missing`` or ``log_altered``."""
    key = (log.pk, log.sha256)
    data = verified_copies.get(key)
    if data is not None:
        return io.BytesIO(data)
    from inspect_ai._util.file import file as open_file

    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # the caller closes it
    digest, size = hashlib.sha256(), 0
    try:
        with open_file(log.location, "rb") as f:
            while chunk := f.read(READ_CHUNK):
                size += len(chunk)
                if size > log.size:
                    break  # longer than recorded: altered, whatever the rest holds
                digest.update(chunk)
                spool.write(chunk)
    except FileNotFoundError:
        spool.close()
        logger.error("eval log %s of run %s is missing from %s", log.name, log.run_id, log.location)
        raise Conflict(
            "The log is no longer where it was stored.", code="log_missing", extra={"name": log.name}
        ) from None
    except BaseException:
        spool.close()
        raise
    if size != log.size or digest.hexdigest() != log.sha256:
        spool.close()
        logger.error(
            "eval log %s of run %s does not match its recorded SHA-256 (%s): not served",
            log.name,
            log.run_id,
            log.sha256,
        )
        raise Conflict(
            "The log's bytes no longer match the SHA-256 recorded when it was kept: it is not served.",
            code="log_altered",
            extra={"name": log.name, "sha256": log.sha256},
        )
    spool.seek(0)
    if size <= VERIFIED_MAX_LOG:
        data = spool.read()
        spool.close()
        verified_copies.put(key, data)
        return io.BytesIO(data)
    return spool


def eval_log_overview(*, log: EvalLogFile) -> dict[str, Any]:
    """Inspect's summary of a log (task, model, status, headline metric) as its
    viewer lists it, read from the verified bytes. Cached by SHA-256: the same
    digest is the same bytes, so the summary never goes stale or wrong."""
    from inspect_ai import __version__ as inspect_version

    key = f"evals:log-overview:{inspect_version}:{log.sha256}"
    overview: dict[str, Any] | None = cache.get(key)
    if overview is None:
        from inspect_ai._util.json import to_json_safe
        from inspect_ai.log import read_eval_log
        from inspect_ai.log._file import to_overview

        with eval_log_open(log=log) as f:
            header = read_eval_log(f, header_only=True, format="json" if log.name.endswith(".json") else "eval")
        overview = json.loads(to_json_safe(to_overview(header)))
        cache.set(key, overview, timeout=None)
    return overview


# --- bytes over HTTP: whole, or one range (the viewer reads .eval zips by range) --


class RangeNotSatisfiable(Exception):
    pass


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a ``Range: bytes=…`` header for a
    representation of ``size`` bytes, or None to send it whole (no header, a
    header in another unit, several ranges, or one that does not parse: RFC
    9110 lets a server ignore those). Raises RangeNotSatisfiable when the
    range lies wholly past the end."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return start, min(end, size - 1)


def _sync_chunks(f: IO[bytes], remaining: int) -> Iterator[bytes]:
    try:
        while remaining > 0 and (chunk := f.read(min(READ_CHUNK, remaining))):
            remaining -= len(chunk)
            yield chunk
    finally:
        f.close()


async def _async_chunks(f: IO[bytes], remaining: int) -> AsyncIterator[bytes]:
    # Under ASGI Django would read a synchronous iterator whole into memory first.
    read = sync_to_async(f.read, thread_sensitive=False)
    try:
        while remaining > 0 and (chunk := await read(min(READ_CHUNK, remaining))):
            remaining -= len(chunk)
            yield chunk
    finally:
        await sync_to_async(f.close, thread_sensitive=False)()


def eval_log_response(request: Request | HttpRequest, log: EvalLogFile, *, attachment: bool) -> HttpResponseBase:
    """The verified log as an HTTP response (for a DRF view): whole (200) or
    the one byte range asked for (206), with its SHA-256 as the ETag and as
    ``Repr-Digest`` (RFC 9530), ranges advertised, nothing cached. Sent from
    the verified copy in memory, or streamed from the checked temporary copy
    of a log too large to keep."""
    etag = f'"{log.sha256}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(log.sha256)).decode()}:",
        "Cache-Control": "private, no-store",
    }
    if attachment:
        headers["Content-Disposition"] = content_disposition_header(True, log.name) or "attachment"
    f = eval_log_open(log=log)
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        range_header = None  # the client holds other bytes: send these whole
    try:
        wanted = byte_range(range_header, log.size)
    except RangeNotSatisfiable:
        f.close()
        refused = problem(
            416, "range_not_satisfiable", f"The log has {log.size} bytes: the range asked for lies past its end."
        )
        for name, value in {**headers, "Content-Range": f"bytes */{log.size}"}.items():
            refused[name] = value
        return refused
    status, start, length = 200, 0, log.size
    if wanted is not None:
        start, end = wanted
        status, length = 206, end - start + 1
        headers["Content-Range"] = f"bytes {start}-{end}/{log.size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        f.close()
        return HttpResponse(status=status, content_type="application/octet-stream", headers=headers)
    f.seek(start)
    if isinstance(f, io.BytesIO):  # a verified copy in memory: sent as it is
        with f:
            content = f.read(length)
        return HttpResponse(content, status=status, content_type="application/octet-stream", headers=headers)
    raw = getattr(request, "_request", request)
    body = _async_chunks(f, length) if isinstance(raw, ASGIRequest) else _sync_chunks(f, length)
    return StreamingHttpResponse(body, status=status, content_type="application/octet-stream", headers=headers)


# --- the API ----------------------------------------------------------------------


class LogCursorPagination(CreatedCursorPagination):
    ordering = "id"  # in the order they were kept


class EvalLogOutput(serializers.ModelSerializer[EvalLogFile]):
    shard = serializers.IntegerField(
        source="shard.number", allow_null=True, read_only=True, help_text="The shard's number within the run"
    )
    url = serializers.SerializerMethodField(help_text="Where to download it")

    class Meta:
        model = EvalLogFile
        fields = ["name", "shard", "attempt", "sha256", "size", "samples", "ingested", "created_at", "url"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_url(self, log: EvalLogFile) -> str:
        return reverse("eval-log-download", args=[log.run_id, log.name])


class EvalLogListApi(APIView):
    pagination_class = LogCursorPagination

    @extend_schema(
        operation_id="eval_logs_list",
        tags=["evaluations"],
        responses={200: EvalLogOutput(many=True), **ERRORS},
        description="The Inspect logs (`.eval`) of a run, one per shard attempt, each with the SHA-256 that the "
        "run's results digest covers: the running organisation and the regulator (the lab gets 403).",
    )
    def get(self, request: Request, pk: Any) -> Response:
        actor = actor_of(request)
        run = eval_run_for_logs(actor=actor, pk=pk)
        return paginated(self, eval_log_list(actor=actor, run=run), EvalLogOutput)


_BYTES = OpenApiResponse(OpenApiTypes.BINARY, description="The log's bytes (a 206 holds the range asked for)")


class EvalLogDownloadApi(APIView):
    @extend_schema(
        operation_id="eval_logs_download",
        tags=["evaluations"],
        parameters=[
            OpenApiParameter(
                "Range",
                str,
                OpenApiParameter.HEADER,
                description="One byte range (`bytes=0-1023`, `bytes=-22`); other forms get the whole log.",
            ),
            OpenApiParameter(
                "ETag", str, OpenApiParameter.HEADER, response=[200, 206], description="The SHA-256, quoted."
            ),
            OpenApiParameter(
                "Repr-Digest",
                str,
                OpenApiParameter.HEADER,
                response=[200, 206],
                description="The SHA-256 of the whole log (RFC 9530), also on a 206.",
            ),
        ],
        responses={
            (200, "application/octet-stream"): _BYTES,
            (206, "application/octet-stream"): _BYTES,
            **ERRORS,
            416: PROBLEM,
        },
        description="One log, checked against its recorded SHA-256 before a byte is sent: a log whose stored bytes "
        "no longer match is refused with 409 `log_altered` (or `log_missing`). Range requests are answered.",
    )
    def get(self, request: Request, pk: Any, name: str) -> HttpResponseBase:
        actor = actor_of(request)
        run = eval_run_for_logs(actor=actor, pk=pk)
        return eval_log_response(request, eval_log_get(actor=actor, run=run, name=name), attachment=True)
