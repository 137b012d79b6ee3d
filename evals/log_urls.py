"""A run's Inspect logs: the API (under /api/) and Inspect's viewer (under
/evals/), included once from config/urls.py at the root."""

from django.urls import path

from evals import log_apis, viewer

urlpatterns = [
    path("api/eval-runs/<uuid:pk>/logs", log_apis.EvalLogListApi.as_view(), name="eval-log-list"),
    path("api/eval-runs/<uuid:pk>/logs/<str:name>", log_apis.EvalLogDownloadApi.as_view(), name="eval-log-download"),
    path("evals/runs/<uuid:pk>/viewer/", viewer.viewer_index, name="eval-viewer"),
    # The viewer's log directory: its listing and the logs by name.
    path(
        "evals/runs/<uuid:pk>/viewer/logs/listing.json",
        viewer.ViewerListingApi.as_view(),
        name="eval-viewer-listing",
    ),
    path("evals/runs/<uuid:pk>/viewer/logs/<str:name>", viewer.ViewerLogApi.as_view(), name="eval-viewer-log"),
    path("evals/viewer/<str:version>/assets/<str:name>", viewer.viewer_asset, name="eval-viewer-asset"),
]
