"""Evaluation suites, runs and samples. PostgreSQL is the source of truth: every
(run, condition, sample index) is a row before any task is queued, so nothing
queued can be lost for good and nothing is counted twice."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from core.models import BaseModel, Organisation


class SuiteQuerySet(models.QuerySet["Suite"]):
    def visible_to(self, actor: Any, action: str = "view") -> SuiteQuerySet:
        # The registry is public to signed-in users; only code registers suites.
        if not actor.is_authenticated or action != "view":
            return self.none()
        return self


class Suite(BaseModel):
    """A registered version of a suite. The content digest covers the scenario
    text, the conditions and the grader version: the same version with other
    content is refused, so a result always names exactly what produced it."""

    name = models.SlugField(max_length=100)
    version = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    risk_area = models.CharField(max_length=24)
    capability_kind = models.CharField(max_length=12)
    content_digest = models.CharField(max_length=64)
    grader_version = models.CharField(max_length=40)
    conditions = models.JSONField(default=list)
    default_conditions = models.JSONField(default=list)
    default_samples = models.PositiveIntegerField(default=10)
    metrics = models.JSONField(default=list, help_text="Metric names the suite reports")

    objects = SuiteQuerySet.as_manager()

    class Meta:
        ordering = ["name", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="suite_unique_version")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class RunSource(models.TextChoices):
    MANAGED = "managed", "Run by Stagegate"
    UPLOADED = "uploaded", "An auditor's own Inspect log, verified against the gateway's access log"


class EvalRunQuerySet(models.QuerySet["EvalRun"]):
    def visible_to(self, actor: Any, action: str = "view") -> EvalRunQuerySet:
        from evals.permissions import eval_run_scope

        return eval_run_scope(self, actor, action)


class EvalRun(BaseModel):
    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="runs")
    audit = models.ForeignKey("auditing.Audit", on_delete=models.PROTECT, related_name="eval_runs")
    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="eval_runs")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="eval_runs", help_text="The auditor organisation"
    )
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.RUNNING)
    conditions = models.JSONField(default=list)
    samples_per_condition = models.PositiveIntegerField()
    temperature = models.FloatField()
    top_p = models.FloatField(default=1.0)
    max_tokens = models.PositiveIntegerField(default=512)
    seed_policy = models.CharField(max_length=16, default="per_sample")
    # A run under the standard's protocol for its suite takes every setting from
    # the protocol and counts at gates; one without (exploratory) never counts.
    standard = models.ForeignKey(
        "standards.Standard", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    protocol_digest = models.CharField(max_length=64, blank=True, help_text="Empty for an exploratory run")
    grader_model = models.CharField(
        max_length=200, blank=True, help_text="Gateway model id of an optional LLM judge (beside the rules)"
    )
    grader_token_ciphertext = models.TextField(blank=True, editable=False)
    # The run's own gateway token (Fernet-encrypted; revoked when the run ends).
    gateway_token_id = models.UUIDField(null=True, blank=True)
    gateway_token_ciphertext = models.TextField(blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    results = models.JSONField(null=True, blank=True, help_text="Rates by condition, filled when the run ends")
    results_digest = models.CharField(max_length=64, blank=True)
    # Where the samples were played: by Stagegate's workers, or on the auditor's
    # machine (``evals.uploads``). An uploaded run is always exploratory.
    source = models.CharField(max_length=12, choices=RunSource.choices, default=RunSource.MANAGED)

    objects = EvalRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(temperature__gte=0, temperature__lte=2), name="eval_run_temperature"
            ),
            models.CheckConstraint(condition=models.Q(samples_per_condition__gte=1), name="eval_run_samples_min"),
            models.CheckConstraint(condition=models.Q(top_p__gt=0, top_p__lte=1), name="eval_run_top_p"),
            models.CheckConstraint(
                condition=models.Q(protocol_digest="") | models.Q(standard__isnull=False),
                name="eval_run_protocol_names_standard",
            ),
            models.CheckConstraint(
                condition=~models.Q(source="uploaded") | models.Q(protocol_digest=""),
                name="eval_run_uploaded_is_exploratory",
            ),
        ]
        indexes = [models.Index(fields=["system_version", "protocol_digest"])]

    def __str__(self) -> str:
        return f"{self.suite} on {self.system_version} ({self.status})"

    @property
    def under_protocol(self) -> bool:
        return bool(self.protocol_digest)


class SampleStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL = (SampleStatus.DONE, SampleStatus.ERROR, SampleStatus.CANCELLED)


class ShardStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class EvalShard(models.Model):
    """A slice of a run's samples that one Celery task runs as one Inspect
    eval. The samples stay the source of truth: a shard attempt writes only
    the samples it still owns, so a re-run shard adds nothing twice."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(EvalRun, on_delete=models.PROTECT, related_name="shards")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=ShardStatus.choices, default=ShardStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="eval_shard_unique")]
        indexes = [models.Index(fields=["status", "lease_until"])]

    def __str__(self) -> str:
        return f"{self.run_id} shard {self.number} ({self.status})"


class EvalLogQuerySet(models.QuerySet["EvalLogFile"]):
    def visible_to(self, actor: Any, action: str = "view") -> EvalLogQuerySet:
        from evals.permissions import eval_sample_scope

        return eval_sample_scope(self, actor, action)


class EvalLogFile(models.Model):
    """An Inspect log (``.eval``) a shard attempt wrote: where it is stored and
    its SHA-256. Every attempt's log is kept; the run's results digest covers
    them all, so a sign-off binds the transcripts behind its numbers."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(EvalRun, on_delete=models.PROTECT, related_name="logs")
    shard = models.ForeignKey(EvalShard, null=True, blank=True, on_delete=models.PROTECT, related_name="logs")
    attempt = models.PositiveSmallIntegerField(default=1)
    name = models.CharField(max_length=200, help_text="File name, unique within the run")
    location = models.CharField(max_length=1000, help_text="Where the log is stored (a path or an fsspec URL)")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    samples = models.PositiveIntegerField(default=0, help_text="Samples in the log")
    ingested = models.PositiveIntegerField(default=0, help_text="Samples whose results came from this log")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EvalLogQuerySet.as_manager()

    class Meta:
        ordering = ["run", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="eval_log_unique_name")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.name}"


class EvalSampleQuerySet(models.QuerySet["EvalSample"]):
    def visible_to(self, actor: Any, action: str = "view") -> EvalSampleQuerySet:
        from evals.permissions import eval_sample_scope

        return eval_sample_scope(self, actor, action)


class EvalSample(models.Model):
    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(EvalRun, on_delete=models.PROTECT, related_name="samples")
    shard = models.ForeignKey(
        "EvalShard", null=True, blank=True, on_delete=models.PROTECT, related_name="samples"
    )  # null for runs made before the Inspect engine
    condition = models.CharField(max_length=200)
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=SampleStatus.choices, default=SampleStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    transcript = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    grade = models.JSONField(default=dict, blank=True, help_text="The rules that fired, for each label")
    calls = models.JSONField(default=list, blank=True, help_text="Gateway request/response SHA-256 of every call")
    error = models.TextField(blank=True)

    objects = EvalSampleQuerySet.as_manager()

    class Meta:
        ordering = ["run", "condition", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "condition", "index"], name="eval_sample_unique"),
        ]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"{self.run_id} {self.condition} #{self.index} ({self.status})"


class EvalLogUploadQuerySet(models.QuerySet["EvalLogUpload"]):
    def visible_to(self, actor: Any, action: str = "view") -> EvalLogUploadQuerySet:
        from evals.permissions import eval_log_upload_scope

        return eval_log_upload_scope(self, actor, action)


class EvalLogUpload(BaseModel):
    """An Inspect log an auditor ran on their own machine through the gateway
    and uploaded, accepted only after every model call in it matched the
    gateway's access log for its token (``evals.verify``). Refused uploads
    leave no row, only an audit event. One accepted upload per token: the
    same calls never back two uploads."""

    audit = models.ForeignKey("auditing.Audit", on_delete=models.PROTECT, related_name="inspect_log_uploads")
    system_version = models.ForeignKey("labs.SystemVersion", on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="inspect_log_uploads", help_text="The auditor organisation"
    )
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey(
        "gateway.GatewayToken",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The gateway token the log's calls used",
    )
    filename = models.CharField(max_length=200)
    format = models.CharField(max_length=8, help_text="eval or json")
    location = models.CharField(max_length=1000, help_text="Where the log is stored (a path or an fsspec URL)")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    task = models.CharField(max_length=200, help_text="The Inspect task named in the log")
    suite = models.ForeignKey(
        Suite, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="When the task is a suite"
    )
    run = models.OneToOneField(
        EvalRun, null=True, blank=True, on_delete=models.PROTECT, related_name="upload", help_text="Re-scored samples"
    )
    log_started_at = models.DateTimeField()
    log_completed_at = models.DateTimeField()
    samples = models.PositiveIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0, help_text="Model calls, each matched in the access log")
    report = models.JSONField(default=dict, help_text="What was checked, and where our labels differ from the log's")

    objects = EvalLogUploadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["token"], name="eval_log_upload_one_per_token")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.task}) for {self.audit_id}"


class LabelReviewStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class LabelReviewQuerySet(models.QuerySet["LabelReview"]):
    def visible_to(self, actor: Any, action: str = "view") -> LabelReviewQuerySet:
        """Like transcripts: the running organisation and the regulator see a
        review; only a member of the running organisation resolves it."""
        from evals.permissions import eval_sample_scope

        if action == "view":
            return eval_sample_scope(self, actor, action)
        if not actor.is_authenticated or action != "resolve":
            return self.none()
        return self.filter(run__organisation_id__in=actor.auditor_org_ids)


class LabelReview(models.Model):
    """A graded moment on which a run's LLM judge and the rules disagree,
    queued for an auditor of the running organisation. Resolving it records
    the auditor's label and reason; the sample then carries that label (the
    rules' own stays in the sample's grade) and the run's results use it."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(EvalRun, on_delete=models.PROTECT, related_name="label_reviews")
    sample = models.ForeignKey(EvalSample, on_delete=models.PROTECT, related_name="label_reviews")
    moment = models.CharField(max_length=64, help_text="The graded moment (a label key of the sample)")
    rules_label = models.CharField(max_length=40)
    judge_label = models.CharField(max_length=40)
    judge_reasoning = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=LabelReviewStatus.choices, default=LabelReviewStatus.OPEN)
    resolved_label = models.CharField(max_length=40, blank=True)
    reason = models.TextField(blank=True, help_text="Why the auditor chose the label")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelReviewQuerySet.as_manager()

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "moment"], name="label_review_one_per_moment"),
            models.CheckConstraint(
                condition=models.Q(status="open", resolved_label="", resolved_at__isnull=True)
                | (
                    models.Q(status="resolved", resolved_by__isnull=False, resolved_at__isnull=False)
                    & ~models.Q(resolved_label="")
                    & ~models.Q(reason="")
                ),
                name="label_review_resolution_complete",
            ),
        ]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"{self.run_id} sample {self.sample_id} {self.moment} ({self.status})"
