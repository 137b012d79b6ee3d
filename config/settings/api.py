from __future__ import annotations

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.problem_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "core.api.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Stagegate API",
    "DESCRIPTION": "Third-party AI audits and staged release, under regulator oversight.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Two choice sets are both called "kind": name each after what it is.
    "ENUM_NAME_OVERRIDES": {
        "OrganisationKindEnum": "core.models.OrganisationKind",
        "RegulatorDecisionKindEnum": "deploy.models.DecisionKind",
    },
    # Every operation documents its problem responses (4XX, application/problem+json).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.api.document_problems"],
    # Swagger UI and ReDoc come from drf-spectacular-sidecar (pinned in
    # requirements.txt) and are served as our own static files, not from a CDN
    # at whatever version is "latest": the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
