from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

api = [
    path("", include("core.urls")),
    path("", include("labs.urls")),
    path("", include("standards.urls")),
    path("", include("auditing.urls")),
    path("", include("evals.urls")),
    path("", include("transparency.urls")),
    path("", include("gateway.api_urls")),
    path("", include("deploy.urls")),
    path("", include("customers.urls")),
    path("", include("monitoring.urls")),
    path("", include("notifications.urls")),
]

urlpatterns = [
    # The front page is the regulator's portal (server-rendered; the API is at /api/docs/).
    path("", RedirectView.as_view(url="/portal/", permanent=False)),
    path("portal/", include("portal.urls")),
    path("portal/", include("portal.more_urls")),
    path("", include("core.account_urls")),  # setting a password from an emailed single-use link
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The API docs, from our own static files (drf-spectacular-sidecar): they work offline.
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path(
        "api/docs/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api_docs/redoc.html"),
        name="redoc",
    ),
    path("api/", include(api)),
    path("", include("evals.log_urls")),  # a run's Inspect logs: the API and Inspect's viewer
    path("gateway/v1/", include("gateway.urls")),
    path("", include("public_record.urls")),  # the public record: /public/ pages, /api/public/ API
]

# Under /api/ an unknown route (or an id its pattern refuses) and a server
# failure answer as problem documents, like every other API error; elsewhere
# Django's pages.
handler404 = "core.api.not_found"
handler500 = "core.api.server_error"
