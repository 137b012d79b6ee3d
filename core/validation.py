"""Input checks the services share: a model's full_clean turned into a 400
naming the fields, and a bounded text field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from core.errors import InvalidInput


def full_clean_or_invalid(
    obj: models.Model, *, exclude: Iterable[str] = (), prefix: str = "", rename: dict[str, str] | None = None
) -> None:
    """``obj.full_clean()``, or InvalidInput naming each field (``rename`` maps
    a model field to the name the caller sent; ``prefix`` nests the names;
    model-wide errors are ``non_field_errors``)."""
    try:
        obj.full_clean(exclude=list(exclude))
    except ValidationError as e:
        errors = e.message_dict if hasattr(e, "error_dict") else {"non_field_errors": e.messages}
        rename = rename or {}

        def name(key: str) -> str:
            if key in rename:
                return rename[key]
            return "non_field_errors" if key == "__all__" else f"{prefix}{key}"

        raise InvalidInput("The request is not valid.", errors={name(k): list(v) for k, v in errors.items()}) from None


def clean_text(value: Any, field: str, max_length: int, *, required: bool = True) -> str:
    """A string of at most ``max_length`` characters (not blank when
    ``required``), stripped; else InvalidInput on ``field``."""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_length:
        raise InvalidInput(
            f"Invalid {field}.",
            errors={field: [f"{'Required, up to' if required else 'Up to'} {max_length} characters."]},
        )
    return value.strip()
