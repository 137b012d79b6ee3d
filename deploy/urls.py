from django.urls import path

from deploy import apis

urlpatterns = [
    path("releases/<uuid:system_version_pk>", apis.ReleaseDetailApi.as_view(), name="release-detail"),
    path("releases/<uuid:system_version_pk>/stage", apis.ReleaseStageApi.as_view(), name="release-stage"),
    path("releases/<uuid:system_version_pk>/halt", apis.ReleaseHaltApi.as_view(), name="release-halt"),
    path("releases/<uuid:system_version_pk>/resume", apis.ReleaseResumeApi.as_view(), name="release-resume"),
]
