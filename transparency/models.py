"""The transparency log: an RFC 6962 Merkle tree of everything that must not be
quietly rewritten, its signed tree heads, and the outbox that reports both to
the regulator (with the regulator's receiving inbox).

Storage: each leaf is a ``LogEntry``; ``LogNode`` keeps the hash of every
perfect subtree completed so far ((level, index), at most 2n rows), so an
append writes O(log n) rows and a root or proof reads O(log n) of them, never
the whole tree. Every table here is append-only, in the ORM and in PostgreSQL.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from core.models import AppendOnly


class LogEntry(AppendOnly):
    """One leaf. ``leaf`` holds the exact bytes that were hashed (RFC 8785 JSON
    of kind, subject, record and time); ``kind`` and ``subject_*`` repeat what
    it records so it can be found without parsing."""

    index = models.PositiveBigIntegerField(primary_key=True)
    kind = models.CharField(max_length=80, db_index=True)
    subject_type = models.CharField(max_length=80)
    subject_id = models.CharField(max_length=64)
    leaf = models.BinaryField()
    leaf_hash = models.CharField(max_length=64)
    logged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["index"]
        verbose_name_plural = "log entries"
        indexes = [models.Index(fields=["subject_type", "subject_id"])]

    def __str__(self) -> str:
        return f"#{self.index} {self.kind} {self.subject_type}:{self.subject_id}"


class LogNode(AppendOnly):
    """The hash of the perfect subtree covering leaves [index·2^level, (index+1)·2^level)."""

    level = models.PositiveSmallIntegerField()
    index = models.PositiveBigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        ordering = ["level", "index"]
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="log_node_unique")]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class SignedTreeHead(AppendOnly):
    """A tree head the service signed. One is issued with every append, so every
    size the API ever reports has a signature."""

    tree_size = models.PositiveBigIntegerField(primary_key=True)
    root_hash = models.CharField(max_length=64)
    timestamp = models.PositiveBigIntegerField(help_text="Milliseconds since the Unix epoch")
    signature = models.CharField(max_length=100, help_text="Base64 Ed25519 signature over the signed bytes")
    key_id = models.CharField(max_length=64, help_text="SHA-256 hex of the raw log public key")

    class Meta:
        ordering = ["tree_size"]

    def __str__(self) -> str:
        return f"STH {self.tree_size} {self.root_hash[:12]}…"


class OutboxKind(models.TextChoices):
    TREE_HEAD = "tree_head", "Signed tree head"
    ENTRY = "entry", "Gate-relevant log entry"


class OutboxMessage(models.Model):
    """Something the regulator must receive, written in the same transaction as
    what it reports; ``deliver_outbox`` moves it across at least once."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=OutboxKind.choices)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["delivered_at", "id"])]

    def __str__(self) -> str:
        return f"outbox #{self.pk} {self.kind}"


class RegulatorInbox(AppendOnly):
    """The regulator's receiving side: one row per outbox message, however many
    times it is delivered."""

    outbox_id = models.BigIntegerField(primary_key=True)
    kind = models.CharField(max_length=16, choices=OutboxKind.choices)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["outbox_id"]
        verbose_name_plural = "regulator inbox"

    def __str__(self) -> str:
        return f"inbox #{self.outbox_id} {self.kind}"
