"""What labs register: model versions (weights), system versions (a model plus
its affordances and configuration) and the affordance catalogue."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from core.models import BaseModel, Organisation

SHA256_HEX = r"^[0-9a-f]{64}$"


class Affordance(models.Model):
    """A way a system can act on the world (internet access, code execution, …)."""

    key = models.SlugField(max_length=64, primary_key=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class AffordanceEdge(models.Model):
    """Having ``source`` lets a system reach ``target`` with extra effort."""

    source = models.ForeignKey(Affordance, on_delete=models.PROTECT, related_name="edges_out")
    target = models.ForeignKey(Affordance, on_delete=models.PROTECT, related_name="edges_in")
    rationale = models.CharField(max_length=300)

    class Meta:
        ordering = ["source_id", "target_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="affordance_edge_unique"),
            models.CheckConstraint(condition=~models.Q(source=models.F("target")), name="affordance_edge_not_loop"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} → {self.target_id}"


class ModelVersionQuerySet(models.QuerySet["ModelVersion"]):
    def visible_to(self, actor: Any, action: str = "view") -> ModelVersionQuerySet:
        from labs.permissions import model_version_scope

        return model_version_scope(self, actor, action)


class ModelVersion(BaseModel):
    """A set of weights, identified by their SHA-256. Immutable once an audit references it."""

    lab = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="model_versions")
    name = models.CharField(max_length=120)
    version = models.CharField(max_length=60)
    weights_digest = models.CharField(max_length=64, help_text="SHA-256 of the weights, lowercase hex")
    parameter_count = models.PositiveBigIntegerField()
    training_compute_flop = models.FloatField(help_text="Training compute in FLOP")
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "name", "version"], name="model_version_unique_name"),
            models.CheckConstraint(
                condition=models.Q(weights_digest__regex=SHA256_HEX), name="model_version_digest_hex"
            ),
            models.CheckConstraint(
                condition=models.Q(training_compute_flop__gt=0), name="model_version_compute_positive"
            ),
            models.CheckConstraint(condition=models.Q(parameter_count__gt=0), name="model_version_params_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class SystemVersionQuerySet(models.QuerySet["SystemVersion"]):
    def visible_to(self, actor: Any, action: str = "view") -> SystemVersionQuerySet:
        from labs.permissions import system_version_scope

        return system_version_scope(self, actor, action)


class SystemVersion(BaseModel):
    """A model plus everything around it. Never edited in place: a change to what
    defines it makes a successor version. Only the endpoint credential, which is
    not part of the configuration, can be rotated in place."""

    lab = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="system_versions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="system_versions")
    name = models.CharField(max_length=120, help_text="The system's name; versions of one system share it")
    sequence = models.PositiveIntegerField(help_text="1 for the first version of this system, then 2, 3, …")
    predecessor = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="successors")
    change_summary = models.TextField(blank=True)
    affordances = models.ManyToManyField(Affordance, related_name="system_versions", blank=True)
    scaffolding = models.TextField(blank=True, help_text="How the model is wrapped: agent loop, tools, memory")
    system_prompt = models.TextField(blank=True)
    system_prompt_digest = models.CharField(max_length=64)
    content_filters = models.JSONField(default=list, blank=True)
    declared_tools = models.JSONField(
        default=list,
        blank=True,
        help_text="Names of the functions the system offers its model (tool calling); from stage 2 the gateway "
        "refuses a call that offers any other",
    )
    online_learning = models.BooleanField(default=False)
    endpoint_base_url = models.URLField(max_length=500)
    endpoint_model = models.CharField(max_length=200, help_text="Model name the upstream endpoint expects")
    endpoint_credential_ciphertext = models.TextField(blank=True, editable=False)
    configuration_digest = models.CharField(max_length=64, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = SystemVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "name", "sequence"], name="system_version_unique_sequence"),
            # History is a line: each version has at most one successor.
            models.UniqueConstraint(fields=["predecessor"], name="system_version_single_successor"),
            models.CheckConstraint(
                condition=models.Q(configuration_digest__regex=SHA256_HEX), name="system_version_digest_hex"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.sequence}"

    @property
    def has_credential(self) -> bool:
        return bool(self.endpoint_credential_ciphertext)
