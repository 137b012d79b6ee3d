from django.urls import include, path

from evals import apis, upload_apis

urlpatterns = [
    path("suites", apis.SuiteListApi.as_view(), name="suite-list"),
    path("eval-runs", apis.EvalRunListApi.as_view(), name="eval-run-list"),
    path("eval-runs/<uuid:pk>", apis.EvalRunDetailApi.as_view(), name="eval-run-detail"),
    path("eval-runs/<uuid:pk>/cancel", apis.EvalRunCancelApi.as_view(), name="eval-run-cancel"),
    path("eval-runs/<uuid:pk>/plot.svg", apis.EvalRunPlotApi.as_view(), name="eval-run-plot"),
    path("eval-runs/<uuid:pk>/samples", apis.EvalSampleListApi.as_view(), name="eval-sample-list"),
    path("eval-runs/<uuid:pk>/samples/<int:sample_pk>", apis.EvalSampleDetailApi.as_view(), name="eval-sample-detail"),
    path("audits/<uuid:audit_id>/inspect-logs", upload_apis.InspectLogListApi.as_view(), name="inspect-log-list"),
    path(
        "audits/<uuid:audit_id>/inspect-logs/<uuid:pk>",
        upload_apis.InspectLogDetailApi.as_view(),
        name="inspect-log-detail",
    ),
    path("", include("evals.review_apis")),  # the judge/rules disagreement queue
]
