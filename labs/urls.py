from django.urls import path

from labs import apis

urlpatterns = [
    path("affordances", apis.AffordanceCatalogueApi.as_view(), name="affordance-catalogue"),
    path("model-versions", apis.ModelVersionsApi.as_view(), name="model-versions"),
    path("model-versions/<uuid:pk>", apis.ModelVersionApi.as_view(), name="model-version"),
    path("system-versions", apis.SystemVersionsApi.as_view(), name="system-versions"),
    path("system-versions/<uuid:pk>", apis.SystemVersionDetailApi.as_view(), name="system-version"),
    path("system-versions/<uuid:pk>/revisions", apis.SystemVersionReviseApi.as_view(), name="system-version-revisions"),
    path(
        "system-versions/<uuid:pk>/credential",
        apis.SystemVersionCredentialApi.as_view(),
        name="system-version-credential",
    ),
    path(
        "system-versions/<uuid:pk>/affordances",
        apis.SystemVersionAffordancesApi.as_view(),
        name="system-version-affordances",
    ),
    path("system-versions/<uuid:pk>/lineage", apis.SystemVersionLineageApi.as_view(), name="system-version-lineage"),
]
