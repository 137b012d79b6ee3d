"""No labs endpoint ever returns a credential or its ciphertext, to anyone, on
success or on error."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern

from labs import urls as labs_urls
from labs.models import SystemVersion
from tests.labs.conftest import CREDENTIAL, OTHER_CREDENTIAL

pytestmark = pytest.mark.django_db

NEW_CREDENTIAL = "sk-live-ROTATED-credential-5c8e1a"


def ciphertexts() -> set[bytes]:
    return {c.encode() for c in SystemVersion.objects.values_list("endpoint_credential_ciphertext", flat=True) if c}


def test_no_credential_in_any_response(
    world: Any, client_for: Any, system_version: Any, other_system_version: Any, assign: Any
) -> None:
    assign(system_version, world.auditor_org)
    stored = ciphertexts()  # before rotation; the new ones are added at the end
    sv, mv = system_version, system_version.model_version
    seen: list[tuple[str, bytes]] = []
    exercised: set[str] = set()

    def hit(c: Any, name: str, method: str, url: str, body: Any = None) -> None:
        response = getattr(c, method)(url, body, format="json") if body is not None else getattr(c, method)(url)
        exercised.add(name)
        seen.append((f"{method.upper()} {url}", response.content))

    for who in ("lab_admin", "regulator", "auditor", "other_lab_admin", "other_auditor"):
        c = client_for(getattr(world, who))
        hit(c, "affordance-catalogue", "get", "/api/affordances")
        hit(c, "model-versions", "get", "/api/model-versions")
        hit(c, "model-version", "get", f"/api/model-versions/{mv.pk}")
        hit(c, "system-versions", "get", "/api/system-versions")
        hit(c, "system-version", "get", f"/api/system-versions/{sv.pk}")
        hit(c, "system-version", "get", f"/api/system-versions/{other_system_version.pk}")
        hit(c, "system-version-affordances", "get", f"/api/system-versions/{sv.pk}/affordances")
        hit(c, "system-version-lineage", "get", f"/api/system-versions/{sv.pk}/lineage")
        # Error responses, including ones that carry a credential in the request.
        hit(
            c,
            "system-version-credential",
            "post",
            f"/api/system-versions/{sv.pk}/credential",
            {"credential": CREDENTIAL, "unexpected": CREDENTIAL},
        )
        hit(
            c,
            "system-version-revisions",
            "post",
            f"/api/system-versions/{sv.pk}/revisions",
            {"change_summary": "only the credential", "endpoint_credential": CREDENTIAL},
        )
        hit(
            c,
            "system-versions",
            "post",
            "/api/system-versions",
            {
                "lab": str(world.lab.pk),
                "model_version": str(mv.pk),
                "name": sv.name,
                "affordances": [],
                "endpoint_base_url": "https://api.aurora.example/v1",
                "endpoint_model": "m",
                "endpoint_credential": CREDENTIAL,
            },
        )
        hit(c, "model-version", "patch", f"/api/model-versions/{mv.pk}", {"notes": CREDENTIAL[:4]})
        hit(c, "model-versions", "post", "/api/model-versions", {"lab": str(world.lab.pk)})

    # Successful writes by the lab.
    c = client_for(world.lab_admin)
    hit(
        c,
        "system-version-credential",
        "post",
        f"/api/system-versions/{sv.pk}/credential",
        {"credential": NEW_CREDENTIAL},
    )
    hit(
        c,
        "system-version-revisions",
        "post",
        f"/api/system-versions/{sv.pk}/revisions",
        {"change_summary": "new scaffolding", "scaffolding": "v2", "endpoint_credential": NEW_CREDENTIAL},
    )
    hit(
        c,
        "system-versions",
        "post",
        "/api/system-versions",
        {
            "lab": str(world.lab.pk),
            "model_version": str(mv.pk),
            "name": "fresh",
            "affordances": [],
            "endpoint_base_url": "https://api.aurora.example/v1",
            "endpoint_model": "m",
            "endpoint_credential": NEW_CREDENTIAL,
        },
    )
    for url in ("/api/system-versions", f"/api/system-versions/{sv.pk}/lineage"):
        hit(c, "re-read", "get", url)

    all_names = {p.name for p in labs_urls.urlpatterns if isinstance(p, URLPattern)}
    assert all_names <= exercised, f"endpoints not exercised: {all_names - exercised}"
    assert SystemVersion.objects.filter(name="fresh").exists()  # the successful writes did happen
    stored |= ciphertexts()
    assert len(stored) == 5  # two initial, one rotated, one revision, one new system
    for secret in [CREDENTIAL.encode(), OTHER_CREDENTIAL.encode(), NEW_CREDENTIAL.encode(), *stored]:
        for what, content in seen:
            assert secret not in content, f"{what} leaked a credential or ciphertext"


def test_admin_never_shows_the_ciphertext(world: Any, system_version: Any, client: Any) -> None:
    from tests.factories import UserFactory

    operator = UserFactory(username="operator", is_staff=True, is_superuser=True)
    client.force_login(operator)
    ciphertext = system_version.endpoint_credential_ciphertext.encode()
    for url in (
        "/admin/labs/systemversion/",
        f"/admin/labs/systemversion/{system_version.pk}/change/",
        f"/admin/labs/modelversion/{system_version.model_version_id}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert ciphertext not in response.content and CREDENTIAL.encode() not in response.content
    # Read-only: the change form cannot be posted.
    response = client.post(f"/admin/labs/systemversion/{system_version.pk}/change/", {"scaffolding": "edited"})
    assert response.status_code == 403
    assert SystemVersion.objects.get(pk=system_version.pk).scaffolding == system_version.scaffolding
