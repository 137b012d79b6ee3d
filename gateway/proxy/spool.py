"""Each gateway process's own copy of its access-log entries, on local disk, so
that no answered call's record is lost when Redis loses its data.

A call's entry is appended here (one line, gateway/proxy/entry.py) before it
goes to the Redis stream that the drain empties into PostgreSQL
(gateway/proxy/limits.py). A file (a *segment*) is deleted once every entry in it is
known to be in PostgreSQL:

- an entry written straight to the database (Redis was down) is there;
- entries added to the stream are there once the drain has taken them: the
  stream, which only the drain empties (after its commit), no longer holds an
  id up to the last id it held when the segment's entries were all in
  (``check``), and Redis is still the same *incarnation*.

The incarnation is a value the admission script sets in Redis when it is
missing: a Redis that restarted empty (or was flushed) gets a new one. When a
process sees it change, every segment with entries added under the old one is
*replayed*: its lines are added to the stream again. The drain stores by call
id, so an entry it already had is not stored twice. An entry whose hand-off
failed both ways (Redis and the database) is replayed too.

At start-up a process adopts the segments of processes that died (their lock
file is no longer locked: the kernel drops a dead process's ``flock``) and
replays them. A process writes only its own files, so no two processes write
one file.

Durability: lines are written with ``write(2)`` as the entry is made, so they
survive the process (kill -9) and Redis; they reach the disk within
``SYNC_SECONDS`` (an ``fsync`` off the event loop) and when a segment is
sealed, so a crash of the machine itself can lose the entries of about the last
second that were not yet in Redis or drained. The directory must be on a local
file system (``flock``)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

logger = logging.getLogger("stagegate.gateway")

SUFFIX = ".jsonl"
LOCK_SUFFIX = ".lock"

# A segment is sealed (a new one begun) after this many entries or seconds.
SEAL_ENTRIES = 4096
SEAL_SECONDS = 5.0
# Lines reach the disk (fsync) at most this long after they were written.
SYNC_SECONDS = 1.0
# How often a busy process asks Redis which sealed segments the drain has taken.
CHECK_SECONDS = 1.0

# fsync and close run here, never on the event loop: one thread, in order.
_disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-spool")


def _sync(fd: int, close: bool) -> None:
    try:
        os.fsync(fd)
    except OSError:
        pass
    if close:
        with contextlib.suppress(OSError):
            os.close(fd)


def stream_id_after(a: bytes, b: bytes) -> bool:
    """Whether Redis stream id ``a`` comes after ``b`` (``<ms>-<seq>``)."""
    am, _, aseq = a.partition(b"-")
    bm, _, bseq = b.partition(b"-")
    return (int(am), int(aseq or 0)) > (int(bm), int(bseq or 0))


class Segment:
    """One spool file and what is known of its entries."""

    __slots__ = ("count", "fd", "inc", "mark", "opened", "outstanding", "path", "replay", "sealed", "spool")

    def __init__(self, spool: Spool, path: Path, fd: int = -1, *, sealed: bool = False, replay: bool = False) -> None:
        self.spool = spool
        self.path = path
        self.fd = fd
        self.count = 0
        self.opened = time.monotonic()
        self.sealed = sealed
        self.outstanding = 0  # entries whose hand-off has not ended yet
        self.inc: bytes | None = None  # the Redis incarnation its entries went into (None: none did)
        self.mark: bytes | None = None  # the stream's last id once all its entries were in
        self.replay = replay  # its lines must go to the stream again


class Spool:
    """The spool of this process in ``directory`` (``spool_for``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.pid = os.getpid()
        self.prefix = f"{socket.gethostname()}-{self.pid}-{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._lock_fd = os.open(directory / (self.prefix + LOCK_SUFFIX), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._seq = 0
        self.current: Segment | None = None
        self.sealed: list[Segment] = []
        self.incarnation: bytes | None = None  # the Redis incarnation last seen
        self._synced = time.monotonic()
        self.checked = 0.0
        self.checking = False
        self.adopted = self._adopt_orphans()

    # Writing

    def _name(self) -> Path:
        self._seq += 1
        return self.directory / f"{self.prefix}.{self._seq:06d}{SUFFIX}"

    def append(self, line: bytes) -> Segment:
        """Write one entry (a line without newline); the segment it went to,
        to report how its hand-off ended (``xadded``, ``stored``, ``lost``)."""
        now = time.monotonic()
        with self._lock:
            seg = self.current
            if seg is not None and (seg.count >= SEAL_ENTRIES or now - seg.opened >= SEAL_SECONDS):
                self._seal()
                seg = None
            if seg is None:
                path = self._name()
                fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
                seg = self.current = Segment(self, path, fd)
            data = line + b"\n"
            while data:
                data = data[os.write(seg.fd, data) :]
            seg.count += 1
            seg.outstanding += 1
            if now - self._synced >= SYNC_SECONDS:
                self._synced = now
                _disk.submit(_sync, seg.fd, False)
        return seg

    def _seal(self) -> None:
        """Close the current segment (lock held): its lines go to disk, new ones to a new file."""
        seg = self.current
        if seg is None:
            return
        self.current = None
        seg.sealed = True
        fd, seg.fd = seg.fd, -1
        _disk.submit(_sync, fd, True)
        self.sealed.append(seg)

    # How each entry's hand-off ended

    def xadded(self, seg: Segment, incarnation: bytes | None) -> None:
        """The entry is in the stream of Redis ``incarnation``."""
        with self._lock:
            seg.outstanding -= 1
            if incarnation is None or (seg.inc is not None and seg.inc != incarnation):
                seg.replay = True  # not sure where all its entries went: add them again
            elif seg.inc is None:
                seg.inc = incarnation

    def stored(self, seg: Segment) -> None:
        """The entry is in the database (written straight there)."""
        with self._lock:
            seg.outstanding -= 1

    def lost(self, seg: Segment) -> None:
        """The entry reached neither Redis nor the database: replay its segment."""
        with self._lock:
            seg.outstanding -= 1
            seg.replay = True

    # What Redis says

    def observe(self, incarnation: bytes) -> bool:
        """Note the Redis incarnation a script saw; True when it changed (Redis
        lost its data): every segment with entries in the old one is replayed."""
        if incarnation == self.incarnation:
            return False
        with self._lock:
            old, self.incarnation = self.incarnation, incarnation
            if old is None:
                return False
            changed = False
            for seg in [*self.sealed, *([self.current] if self.current else [])]:
                if seg.inc is not None and seg.inc != incarnation:
                    seg.replay = changed = True
            if self.current is not None and self.current.replay:
                self._seal()
            if changed:
                logger.warning("gateway access log: Redis lost its data; replaying this process's spool")
            return changed

    def due(self) -> bool:
        """Whether a ``check`` is worth a Redis round trip now."""
        if self.checking:
            return False
        if any(seg.replay for seg in self.sealed):
            return True
        if time.monotonic() - self.checked < CHECK_SECONDS:
            return False
        return bool(self.sealed) or (self.current is not None and self.current.count > 0)

    def check(self, incarnation: bytes, first: bytes | None, last: bytes | None) -> list[Segment]:
        """Given Redis's incarnation and the stream's first and last ids now,
        delete the segments whose entries are all in the database; the
        segments to replay (``replay_done`` once their lines are in the stream)."""
        self.observe(incarnation)
        gone: list[Segment] = []
        again: list[Segment] = []
        with self._lock:
            self.checked = time.monotonic()
            seg = self.current
            if seg is not None and (seg.replay or (seg.count and self.checked - seg.opened >= SEAL_SECONDS)):
                self._seal()
            for seg in self.sealed:
                if seg.replay:
                    again.append(seg)
                elif seg.outstanding > 0:
                    continue
                elif seg.inc is None:
                    gone.append(seg)  # every entry went straight to the database
                elif seg.inc != incarnation:
                    seg.replay = True
                    again.append(seg)
                elif first is None:
                    gone.append(seg)  # the drain has emptied the stream
                elif seg.mark is None:
                    seg.mark = last  # all its entries are at or before this id
                elif stream_id_after(first, seg.mark):
                    gone.append(seg)  # the drain has taken everything up to the mark
            for seg in gone:
                self.sealed.remove(seg)
        for seg in gone:
            with contextlib.suppress(FileNotFoundError):
                seg.path.unlink()
        return again

    def lines(self, seg: Segment) -> list[bytes]:
        """A sealed segment's entries as written (a torn last line too: the
        drain quarantines what it cannot read)."""
        try:
            data = seg.path.read_bytes()
        except FileNotFoundError:
            return []
        return [line for line in data.split(b"\n") if line.strip()]

    def replay_done(self, seg: Segment, incarnation: bytes | None) -> None:
        """A segment's lines are in the stream of ``incarnation`` (None: not all of them)."""
        with self._lock:
            if incarnation is None:
                return
            seg.replay = False
            seg.inc = incarnation
            seg.mark = None

    # Start-up

    def _adopt_orphans(self) -> int:
        """Take over the segments of processes that are gone (their lock file
        unlocked, or none): renamed as this process's own, to be replayed."""
        prefixes: dict[str, list[Path]] = {}
        for path in self.directory.glob("*" + SUFFIX):
            prefixes.setdefault(path.name.rsplit(".", 2)[0], []).append(path)
        for path in self.directory.glob("*" + LOCK_SUFFIX):
            prefixes.setdefault(path.name[: -len(LOCK_SUFFIX)], [])
        adopted = 0
        for prefix, paths in prefixes.items():
            if prefix == self.prefix:
                continue
            lock_path = self.directory / (prefix + LOCK_SUFFIX)
            try:
                fd = os.open(lock_path, os.O_RDWR)
            except FileNotFoundError:
                fd = -1  # no lock file: its owner is gone
            try:
                if fd >= 0:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # its owner is alive
                for path in sorted(paths):
                    mine = self._name()
                    try:
                        path.rename(mine)  # atomic: a process adopting at the same time gets FileNotFoundError
                    except FileNotFoundError:
                        continue
                    seg = Segment(self, mine, sealed=True, replay=True)
                    self.sealed.append(seg)
                    adopted += 1
                if fd >= 0:
                    with contextlib.suppress(FileNotFoundError):
                        lock_path.unlink()
            finally:
                if fd >= 0:
                    os.close(fd)
        if adopted:
            logger.warning("gateway access log: replaying %d spool file(s) of gateway processes that ended", adopted)
        return adopted

    def close(self) -> None:
        """Stop writing (tests): seal the current segment and release the lock."""
        with self._lock:
            self._seal()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


_spools: dict[str, Spool] = {}
_spools_lock = threading.Lock()
# A forked child has spools of its own (its own files and locks): it forgets
# its parent's, so that asking for one costs a lookup, not a getpid(2) per call.
os.register_at_fork(after_in_child=_spools.clear)


def spool_for(directory: str) -> Spool | None:
    """This process's spool in ``directory`` (None when ``directory`` is empty: no spool)."""
    if not directory:
        return None
    found = _spools.get(directory)
    if found is None:
        with _spools_lock:
            found = _spools.get(directory)
            if found is None:
                found = _spools[directory] = Spool(Path(directory))
    return found
