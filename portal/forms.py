"""The portal's forms: they parse and label the fields; every rule (who may,
what is allowed) stays in the services they feed."""

from __future__ import annotations

from typing import Any

from django import forms

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
