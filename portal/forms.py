"""The portal's forms: they parse and label the fields; every rule (who may,
what is allowed) stays in the services they feed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import MaxValueValidator

from portal.presenters import stage_label

MAX_TEXT = 2000  # deploy.services.MAX_REASON


def _text(label: str, *, required: bool = True, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=MAX_TEXT,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class ReasonForm(forms.Form):
    reason = _text("Reason", help_text="Recorded in the audit trail and the transparency log.")


class GateRequestForm(forms.Form):
    to_stage = forms.IntegerField(min_value=1, max_value=3, widget=forms.HiddenInput)
    note = _text("Note to the regulator", required=False)


class DecisionForm(forms.Form):
    # Set by the button pressed (Approve / Reject).
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = _text("Reason for the decision", help_text="Required for an approval and a rejection alike.")


class HaltForm(forms.Form):
    reason = _text("Reason for the halt")
    to_stage = forms.TypedChoiceField(
        label="Send back to stage",
        coerce=int,
        required=False,
        empty_value=None,
        help_text="Optional: a lower stage the release returns to. Every gateway token stops at once either way.",
    )

    def __init__(self, *args: Any, current_stage: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lower = [(str(s), stage_label(s)) for s in range(current_stage)]
        self.fields["to_stage"].choices = [("", f"Keep the current stage ({current_stage})"), *lower]  # type: ignore[attr-defined]


class SanctionForm(forms.Form):
    lab = forms.ChoiceField(label="Lab")
    reason = _text("Reason for the sanction")
    system_version = forms.ChoiceField(
        label="System version",
        required=False,
        help_text="Required when the lab's next sanction is an extra audit: that version owes the re-audit.",
    )

    def __init__(self, *args: Any, labs: list[tuple[str, str]], system_versions: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["lab"].choices = labs  # type: ignore[attr-defined]
        self.fields["system_version"].choices = [("", "None"), *system_versions]  # type: ignore[attr-defined]


# --- auditors and academics ------------------------------------------------------


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


class RunStartForm(forms.Form):
    """Start a suite on an audit. Under the protocol every setting comes from
    the standard (the service refuses any given); an exploratory run may set
    them. Which suites and conditions exist is the service's to check."""

    suite = forms.ChoiceField(label="Suite")
    mode = forms.ChoiceField(
        label="Kind of run",
        choices=[
            ("protocol", "Under the standard's protocol (counts at gates)"),
            ("exploratory", "Exploratory (does not count at gates)"),
        ],
        widget=forms.RadioSelect,
        initial="protocol",
    )
    conditions = forms.CharField(
        label="Conditions",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Exploratory runs only: one condition a line (default: the suite's default conditions).",
    )
    samples_per_condition = forms.IntegerField(label="Samples per condition", required=False, min_value=1)
    temperature = forms.FloatField(label="Temperature", required=False, help_text="Exploratory runs: default 0.9.")
    top_p = forms.FloatField(label="Top p", required=False, help_text="Exploratory runs: default 1.")
    max_tokens = forms.IntegerField(label="Max tokens", required=False, help_text="Exploratory runs: default 512.")

    def __init__(self, *args: Any, suites: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["suite"].choices = suites  # type: ignore[attr-defined]

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        out: dict[str, Any] = {"suite": data["suite"], "protocol": data["mode"] == "protocol"}
        conditions = _lines(data.get("conditions") or "")
        if conditions:
            out["conditions"] = conditions
        for name in ("samples_per_condition", "temperature", "top_p", "max_tokens"):
            if data.get(name) is not None:
                out[name] = data[name]
        return out


class FindingForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    description = forms.CharField(
        label="Description", max_length=50_000, widget=forms.Textarea(attrs={"rows": 6, "cols": 60})
    )
    severity = forms.ChoiceField(label="Severity")
    risk_area = forms.ChoiceField(label="Risk area")
    capability_kind = forms.ChoiceField(label="Kind of capability")
    evidence = forms.CharField(
        label="Evidence",
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=(
            "One item a line: kind (eval_sample, gateway_log or file), a reference, and the SHA-256 of the "
            "thing, separated by spaces. For example: eval_sample /api/eval-runs/RUN/samples/7 3f2a…"
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from auditing.models import FindingSeverity
        from standards.models import CapabilityKind, RiskArea

        super().__init__(*args, **kwargs)
        self.fields["severity"].choices = FindingSeverity.choices  # type: ignore[attr-defined]
        self.fields["risk_area"].choices = RiskArea.choices  # type: ignore[attr-defined]
        self.fields["capability_kind"].choices = CapabilityKind.choices  # type: ignore[attr-defined]

    def clean_evidence(self) -> list[dict[str, str]]:
        """Lines to the service's shape; the service checks kinds and digests."""
        items = []
        for n, line in enumerate(_lines(self.cleaned_data.get("evidence") or ""), start=1):
            parts = line.split()
            if len(parts) != 3:
                raise forms.ValidationError(f"Line {n}: write kind, reference and SHA-256, separated by spaces.")
            items.append({"kind": parts[0], "reference": parts[1], "sha256": parts[2].lower()})
        return items


class NoteForm(forms.Form):
    note = _text("Note")


class RetestForm(forms.Form):
    system_version = forms.ChoiceField(label="Re-tested on")
    outcome = forms.ChoiceField(label="Outcome")
    note = _text("Note", required=False)

    def __init__(self, *args: Any, versions: list[tuple[str, str]], **kwargs: Any) -> None:
        from auditing.models import RetestOutcome

        super().__init__(*args, **kwargs)
        self.fields["system_version"].choices = versions  # type: ignore[attr-defined]
        self.fields["outcome"].choices = RetestOutcome.choices  # type: ignore[attr-defined]


class GatewayTokenForm(forms.Form):
    system_version = forms.ChoiceField(label="System version")
    audit = forms.ChoiceField(label="Audit", required=False, help_text="Auditor tokens: the audit you call it for.")
    name = forms.CharField(label="Name", max_length=100, help_text="So that you can tell your tokens apart.")
    days = forms.IntegerField(label="Valid for (days)", min_value=1, initial=30)

    def __init__(
        self,
        *args: Any,
        versions: list[tuple[str, str]],
        audits: list[tuple[str, str]],
        max_days: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["system_version"].choices = versions  # type: ignore[attr-defined]
        self.fields["audit"].choices = [("", "None"), *audits]  # type: ignore[attr-defined]
        self.fields["days"].validators.append(MaxValueValidator(max_days))
        self.fields["days"].widget.attrs["max"] = max_days


class SigningKeyForm(forms.Form):
    public_key = forms.CharField(
        label="Public key (PEM)",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 64, "spellcheck": "false"}),
        help_text="The contents of key.pub.pem written by `stagegate-sign keygen`. The private key stays with you.",
    )
    organisation = forms.ChoiceField(label="Signing for", required=False)

    def __init__(self, *args: Any, organisations: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = [("", "My only signing organisation"), *organisations]  # type: ignore[attr-defined]


# --- labs -------------------------------------------------------------------


def _choices_field(label: str, **kw: Any) -> forms.ChoiceField:
    return forms.ChoiceField(label=label, **kw)


class ModelVersionForm(forms.Form):
    lab = forms.ChoiceField(label="Lab")
    name = forms.CharField(label="Model name", max_length=200)
    version = forms.CharField(label="Version", max_length=100)
    weights_digest = forms.CharField(
        label="Weights digest (SHA-256)", max_length=64, help_text="The SHA-256 of the weights, 64 hex characters."
    )
    parameter_count = forms.IntegerField(label="Parameters", min_value=1)
    training_compute_flop = forms.FloatField(label="Training compute (FLOP)", min_value=0)
    notes = _text("Notes", required=False)

    def __init__(self, *args: Any, labs: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lab"].choices = labs  # type: ignore[attr-defined]


class SystemVersionForm(forms.Form):
    """A new system's first version. The credential is write-only: the field
    never renders a value back, on success or on a refusal."""

    model_version = forms.ChoiceField(label="Model version")
    name = forms.CharField(label="System name", max_length=120)
    affordances = forms.MultipleChoiceField(
        label="Affordances it is given",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the system can use. What these let it reach is shown on its page.",
    )
    scaffolding = _text("Scaffolding", required=False, help_text="Agent loop, tools, memory.")
    system_prompt = forms.CharField(
        label="System prompt", required=False, max_length=100_000, widget=forms.Textarea(attrs={"rows": 4})
    )
    content_filters = forms.CharField(
        label="Content filters",
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One a line.",
    )
    declared_tools = forms.CharField(
        label="Tools it offers the model",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Function names, one a line (needs the tool use affordance). From stage 2 the gateway refuses "
        "a call that offers any other tool.",
    )
    online_learning = forms.BooleanField(label="Learns online from use", required=False)
    endpoint_base_url = forms.URLField(label="Endpoint base URL", max_length=500, assume_scheme="https")
    endpoint_model = forms.CharField(label="Endpoint model name", max_length=200)
    endpoint_credential = forms.CharField(
        label="Endpoint credential",
        required=False,
        max_length=4000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted; never shown again, to anyone.",
    )

    def __init__(
        self, *args: Any, model_versions: list[tuple[str, str]], affordances: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model_version"].choices = model_versions  # type: ignore[attr-defined]
        self.fields["affordances"].choices = affordances  # type: ignore[attr-defined]

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("model_version")
        data["content_filters"] = _lines(data.get("content_filters") or "")
        data["declared_tools"] = _lines(data.get("declared_tools") or "")
        data["endpoint_credential"] = data.get("endpoint_credential") or None
        return data


class CredentialForm(forms.Form):
    credential = forms.CharField(
        label="New endpoint credential",
        max_length=4000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Replaces the stored one at once. Write-only: it is never displayed.",
    )


class EnrolForm(forms.Form):
    customer = forms.ChoiceField(label="Customer", help_text="Customers that consented to enrolment in this release.")

    def __init__(self, *args: Any, customers: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["customer"].choices = customers  # type: ignore[attr-defined]


class IncidentForm(forms.Form):
    system_version = forms.ChoiceField(label="System version")
    kind = forms.ChoiceField(label="Kind of incident")
    title = forms.CharField(label="Title", max_length=200)
    description = forms.CharField(label="What happened", max_length=50_000, widget=forms.Textarea(attrs={"rows": 5}))
    occurred_at = forms.DateTimeField(
        label="When it happened (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    aware_at = forms.DateTimeField(
        label="When you learnt of it (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args: Any, versions: list[tuple[str, str]], kinds: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["system_version"].choices = versions  # type: ignore[attr-defined]
        self.fields["kind"].choices = kinds  # type: ignore[attr-defined]


class LabReportForm(forms.Form):
    report = forms.CharField(
        label="The lab's report", max_length=50_000, widget=forms.Textarea(attrs={"rows": 6, "cols": 60})
    )


# --- the regulator --------------------------------------------------------------


class CertificationForm(forms.Form):
    organisation = forms.ChoiceField(label="Auditor organisation or academic group")
    expires_on = forms.DateField(label="Expires on (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    risk_areas = forms.MultipleChoiceField(label="Risk areas", widget=forms.CheckboxSelectMultiple)
    infosec_level = forms.ChoiceField(label="Information security level")

    def __init__(self, *args: Any, organisations: list[tuple[str, str]], **kwargs: Any) -> None:
        from auditing.models import InfosecLevel
        from standards.models import RiskArea

        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = organisations  # type: ignore[attr-defined]
        self.fields["risk_areas"].choices = RiskArea.choices  # type: ignore[attr-defined]
        self.fields["infosec_level"].choices = InfosecLevel.choices  # type: ignore[attr-defined]


class AuditOpenForm(forms.Form):
    system_version = forms.ChoiceField(label="System version")
    kind = forms.ChoiceField(label="Kind of audit")
    lab_fee_amount = forms.DecimalField(label="Lab's fee", min_value=0, max_digits=14, decimal_places=2)
    currency = forms.CharField(label="Currency", max_length=3, initial="GBP")
    scope_notes = _text("Scope", required=False)

    def __init__(self, *args: Any, versions: list[tuple[str, str]], **kwargs: Any) -> None:
        from auditing.models import AuditKind

        super().__init__(*args, **kwargs)
        self.fields["system_version"].choices = versions  # type: ignore[attr-defined]
        self.fields["kind"].choices = AuditKind.choices  # type: ignore[attr-defined]


class AssignForm(forms.Form):
    organisation = forms.ChoiceField(label="Organisation")
    payout_amount = forms.DecimalField(label="Payout", min_value=0, max_digits=14, decimal_places=2)

    def __init__(self, *args: Any, organisations: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = organisations  # type: ignore[attr-defined]


class AuditCloseForm(forms.Form):
    status = forms.ChoiceField(label="Outcome", choices=[("closed", "Closed: done"), ("cancelled", "Cancelled")])
    reason = _text("Reason", required=False, help_text="Required to cancel.")


class ConflictForm(forms.Form):
    organisation = forms.ChoiceField(label="Auditor organisation or academic group")
    lab = forms.ChoiceField(label="Lab")
    kind = forms.ChoiceField(label="Kind of conflict")
    reason = _text("Reason")

    def __init__(
        self, *args: Any, organisations: list[tuple[str, str]], labs: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        from auditing.models import ConflictKind

        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = organisations  # type: ignore[attr-defined]
        self.fields["lab"].choices = labs  # type: ignore[attr-defined]
        self.fields["kind"].choices = ConflictKind.choices  # type: ignore[attr-defined]


class KycDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("verify", "Verify"), ("reject", "Reject")])
    note = _text("What you checked, or why it is rejected")
    submission_digest = forms.CharField(widget=forms.HiddenInput, max_length=64)


class TriageForm(IncidentForm):
    """A whistleblower report, read offline, recorded as an incident."""


# --- customers ------------------------------------------------------------------


class KycForm(forms.Form):
    legal_name = forms.CharField(label="Legal name", max_length=200)
    registration_number = forms.CharField(label="Registration number", max_length=64)
    jurisdiction = forms.CharField(label="Jurisdiction", max_length=2, help_text="ISO 3166-1 alpha-2, such as GB.")
    registered_address = forms.CharField(
        label="Registered address", max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )
    stated_purpose = forms.CharField(
        label="What you will use the systems for", max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    beneficial_owners = forms.CharField(
        label="Beneficial owners",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "One a line: full name; country code; percentage owned; and “controls” if they control the "
            "organisation other than by owning it. For example: Ada Lovelace; GB; 60; controls"
        ),
    )

    def clean_jurisdiction(self) -> str:
        return str(self.cleaned_data["jurisdiction"]).strip().upper()

    def clean_beneficial_owners(self) -> list[dict[str, Any]]:
        """Lines to the service's owner objects; the service checks the values."""
        owners = []
        for n, line in enumerate(_lines(self.cleaned_data.get("beneficial_owners") or ""), start=1):
            parts = [p.strip() for p in line.split(";")]
            if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3].lower() not in ("controls", "")):
                raise forms.ValidationError(f"Line {n}: write name; country; percentage, and optionally; controls.")
            owners.append(
                {
                    "full_name": parts[0],
                    "country": parts[1].upper(),
                    "ownership_percent": parts[2].rstrip("%").strip(),
                    "controls": len(parts) == 4 and parts[3].lower() == "controls",
                }
            )
        return owners


class ReviseForm(SystemVersionForm):
    """The next version of a system: every field starts as the current
    version's; what is changed (and the summary of it) makes the successor.
    A blank credential carries the current one over."""

    change_summary = _text("What changed", help_text="Recorded with the version; auditors see it.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["name"]
        self.fields["endpoint_credential"].help_text = "Leave blank to keep the current one. Never shown."

    def service_arguments(self) -> dict[str, Any]:
        data = super().service_arguments()
        if data.get("endpoint_credential") is None:
            data.pop("endpoint_credential", None)
        return data


class AdmitForm(forms.Form):
    holder = forms.CharField(label="Username of the person admitted", max_length=150)
    name = forms.CharField(label="Token name", max_length=100)
    days = forms.IntegerField(label="Valid for (days)", min_value=1, initial=30)

    def __init__(self, *args: Any, max_days: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days"].validators.append(MaxValueValidator(max_days))
        self.fields["days"].widget.attrs["max"] = max_days
