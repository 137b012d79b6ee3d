"""Forms of the pages in portal/more_urls.py: they parse and label; every
rule (who may, what is allowed) stays in the service each one feeds."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from portal.forms import MAX_TEXT, ReasonForm

__all__ = ["ReasonForm"]


def _text(label: str, *, required: bool = True, help_text: str = "", max_length: int = MAX_TEXT) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


# --- people and organisations ------------------------------------------------------


class OrganisationCreateForm(forms.Form):
    kind = forms.ChoiceField(label="Kind")
    name = forms.CharField(label="Name", max_length=200)
    slug = forms.SlugField(label="Short name (slug)", max_length=80, help_text="Letters, digits and hyphens; fixed.")
    country = forms.CharField(label="Country", max_length=2, required=False, help_text="ISO 3166-1 alpha-2, e.g. GB.")
    website = forms.URLField(label="Website", required=False, assume_scheme="https")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from core.models import OrganisationKind

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = OrganisationKind.choices  # type: ignore[attr-defined]


class OrganisationUpdateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    country = forms.CharField(label="Country", max_length=2, required=False, help_text="ISO 3166-1 alpha-2, e.g. GB.")
    website = forms.URLField(label="Website", required=False, assume_scheme="https")


class AccountCreateForm(forms.Form):
    """A new person with a role in the organisation; they set their own
    password through the single-use link emailed to them."""

    username = forms.CharField(label="Username", max_length=150)
    email = forms.CharField(label="Email address", max_length=254, help_text="The set-password link is sent here.")
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, roles: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles  # type: ignore[attr-defined]


class MembershipAddForm(forms.Form):
    """An existing person added to the organisation (the regulator's word
    makes the membership; a lab admin's is an invitation they accept)."""

    username = forms.CharField(label="Username of the person", max_length=150)
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, roles: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles  # type: ignore[attr-defined]


class ApiTokenForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="So that you can tell your tokens apart.")
    expires_on = forms.DateField(
        label="Expires on (UTC)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


# --- the regulator's register, standards, whistleblower key ------------------------


class RelationshipForm(forms.Form):
    organisation = forms.ChoiceField(label="Organisation")
    counterparty = forms.ChoiceField(label="Counterparty")
    kind = forms.ChoiceField(label="Kind of relationship")
    description = _text("Description", max_length=5000)
    starts_on = forms.DateField(label="Starts on", widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label="Ends on", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, organisations: list[tuple[str, str]], **kwargs: Any) -> None:
        from auditing.models import RelationshipKind

        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = organisations  # type: ignore[attr-defined]
        self.fields["counterparty"].choices = organisations  # type: ignore[attr-defined]
        self.fields["kind"].choices = RelationshipKind.choices  # type: ignore[attr-defined]


class RelationshipEndForm(forms.Form):
    ends_on = forms.DateField(label="Ends on", widget=forms.DateInput(attrs={"type": "date"}))
    reason = _text("Reason")


GATE_FIELDS = (
    ("internal_signoffs_required", "Lab sign-offs required", 2),
    ("auditor_signoffs_required", "Auditor sign-offs required", 2),
    ("distinct_auditor_orgs_required", "Distinct auditor organisations required", 2),
    ("stage2_customer_cap", "Stage-2 customer cap", 1000),
    ("monitoring_period_days", "Monitoring period (days)", 30),
    ("online_learning_signoff_expiry_days", "Sign-off expiry for online learners (days)", 90),
    ("auditor_rotation_limit", "Auditor rotation limit (consecutive audits)", 3),
)


class StandardDraftForm(forms.Form):
    """A draft standard: its numbers as fields, and its suite requirements,
    incident kinds and protocols as the JSON document the API takes (the page
    fills it with the standard in force, to edit)."""

    name = forms.CharField(label="Name", max_length=200)
    version = forms.CharField(label="Version", max_length=40, help_text="Unique, e.g. 2027.1.")
    summary = _text("Summary", required=False, max_length=20_000)
    requirements = forms.CharField(
        label="Suites, incident kinds and protocols (JSON)",
        max_length=500_000,
        widget=forms.Textarea(attrs={"rows": 16, "cols": 80, "spellcheck": "false"}),
        help_text='An object with "suites", "incident_kinds" and "protocols", as in the API (POST /api/standards).',
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label, default in GATE_FIELDS:
            self.fields[name] = forms.IntegerField(label=label, min_value=1, initial=default)
        # The JSON last, after the numbers.
        self.fields["requirements"] = self.fields.pop("requirements")

    def clean_requirements(self) -> dict[str, Any]:
        """JSON to the service's lists, typed as the API's parser types them."""
        from standards.apis import ProtocolSerializer, StandardIncidentKindInput, StandardSuiteInput

        try:
            doc = json.loads(self.cleaned_data["requirements"])
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}.") from None
        if not isinstance(doc, dict):
            raise forms.ValidationError('Must be a JSON object with "suites", "incident_kinds" and "protocols".')
        unknown = sorted(set(doc) - {"suites", "incident_kinds", "protocols"})
        if unknown:
            raise forms.ValidationError(f"Unknown keys: {', '.join(unknown)}.")
        out: dict[str, Any] = {}
        problems: list[str] = []
        for key, parser, required in (
            ("suites", StandardSuiteInput, True),
            ("incident_kinds", StandardIncidentKindInput, True),
            ("protocols", ProtocolSerializer, False),
        ):
            if key not in doc:
                if required:
                    problems.append(f'"{key}" is required.')
                out[key] = []
                continue
            parsed = parser(data=doc[key], many=True)
            if parsed.is_valid():
                out[key] = [dict(item) for item in parsed.validated_data]
            else:
                problems.append(f'"{key}": {json.dumps(parsed.errors)}')
        if problems:
            raise forms.ValidationError(" ".join(problems))
        return out

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.update(data.pop("requirements"))
        return data


class WhistleblowerKeyForm(forms.Form):
    public_key = forms.CharField(
        label="Public key (base64)",
        max_length=200,
        widget=forms.TextInput(attrs={"size": 64, "spellcheck": "false", "autocomplete": "off"}),
        help_text="The X25519 public key that `stagegate-sign whistle-keygen` printed. The private key stays offline.",
    )


# --- auditors, academics, labs --------------------------------------------------------


class LabelReviewResolveForm(forms.Form):
    label = forms.ChoiceField(label="Label")
    reason = _text("Why this label is right")

    def __init__(self, *args: Any, labels: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["label"].choices = [(x, x) for x in labels]  # type: ignore[attr-defined]


class InspectLogUploadForm(forms.Form):
    file = forms.FileField(label="Inspect log (.eval or .json)", help_text="As `inspect eval` wrote it.")
    token = forms.ChoiceField(label="Gateway token its calls used")

    def __init__(self, *args: Any, tokens: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["token"].choices = tokens  # type: ignore[attr-defined]


class SignoffSubmitForm(forms.Form):
    """The DSSE envelope `stagegate-sign sign` wrote: pasted, or its file."""

    envelope = forms.CharField(
        label="Envelope (JSON)",
        required=False,
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "spellcheck": "false"}),
        help_text="Paste the contents of the envelope file, or choose the file below.",
    )
    envelope_file = forms.FileField(label="Or the envelope file", required=False)

    MAX_BYTES = 200_000

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        text = (data.get("envelope") or "").strip()
        upload = data.get("envelope_file")
        if upload is not None:
            if upload.size is not None and upload.size > self.MAX_BYTES:
                raise forms.ValidationError(f"The file is larger than {self.MAX_BYTES} bytes.")
            try:
                text = upload.read(self.MAX_BYTES + 1).decode("utf-8").strip()
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
        if not text:
            raise forms.ValidationError("Paste the envelope or choose its file.")
        try:
            data["parsed"] = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"The envelope is not JSON: {exc}.") from None
        return data


class SummaryPublishForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    body = forms.CharField(label="Summary", max_length=100_000, widget=forms.Textarea(attrs={"rows": 12, "cols": 80}))


class ModelVersionUpdateForm(forms.Form):
    """Corrections to a model version's registration: only changed fields go
    to the service, which refuses what may no longer change."""

    name = forms.CharField(label="Model name", max_length=120)
    version = forms.CharField(label="Version", max_length=60)
    weights_digest = forms.CharField(label="Weights digest (SHA-256)", max_length=64)
    parameter_count = forms.IntegerField(label="Parameters", min_value=1)
    training_compute_flop = forms.FloatField(label="Training compute (FLOP)", min_value=0)
    notes = _text("Notes", required=False, max_length=10_000)

    def changes(self, current: Any) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if getattr(current, k) != v}


class DecisionProposeForm(forms.Form):
    """A two-person decision proposed: which fields it needs depends on its
    kind, which the service checks (deploy.decisions)."""

    kind = forms.ChoiceField(label="Decision")
    reason = _text("Reason", help_text="Recorded with the decision; the approver reads it.")
    lab = forms.ChoiceField(label="Lab (a sanction)", required=False)
    system_version = forms.ChoiceField(label="System version (a long halt, or an extra-audit sanction)", required=False)
    to_stage = forms.TypedChoiceField(
        label="Back to stage (a long halt)",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), ("0", "0"), ("1", "1"), ("2", "2")],
    )
    finding = forms.ChoiceField(label="Finding (a risk acceptance)", required=False)

    def __init__(
        self,
        *args: Any,
        labs: list[tuple[str, str]],
        versions: list[tuple[str, str]],
        findings: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        from deploy.models import DecisionKind

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = DecisionKind.choices  # type: ignore[attr-defined]
        self.fields["lab"].choices = [("", "—"), *labs]  # type: ignore[attr-defined]
        self.fields["system_version"].choices = [("", "—"), *versions]  # type: ignore[attr-defined]
        self.fields["finding"].choices = [("", "—"), *findings]  # type: ignore[attr-defined]
