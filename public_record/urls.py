"""The public record: pages under /public/ and the API under /api/public/,
no sign-in for either (config/urls.py includes this at the root)."""

from django.urls import path

from public_record import apis as public_apis
from public_record import views as public_views

app_name = "public"

urlpatterns = [
    # Pages
    path("public/", public_views.home, name="home"),
    path("public/releases", public_views.release_list, name="releases"),
    path("public/releases/<str:system_version>", public_views.release_detail, name="release"),
    path("public/log", public_views.log, name="log"),
    path("public/log/consistency", public_views.consistency, name="consistency"),
    path("public/log/<int:index>", public_views.entry, name="entry"),
    # API
    path("api/public/log/key", public_apis.KeyApi.as_view(), name="api-key"),
    path("api/public/log/tree-head", public_apis.TreeHeadLatestApi.as_view(), name="api-tree-head"),
    path("api/public/log/tree-heads/<int:tree_size>", public_apis.TreeHeadAtApi.as_view(), name="api-tree-head-at"),
    path("api/public/log/entries", public_apis.EntryListApi.as_view(), name="api-entries"),
    path("api/public/log/entries/<int:index>", public_apis.EntryApi.as_view(), name="api-entry"),
    path("api/public/log/entries/<int:index>/proof", public_apis.InclusionApi.as_view(), name="api-inclusion"),
    path("api/public/log/entries/<int:index>/receipt", public_apis.ReceiptApi.as_view(), name="api-receipt"),
    path("api/public/log/consistency", public_apis.ConsistencyApi.as_view(), name="api-consistency"),
    path("api/public/releases", public_apis.ReleaseListApi.as_view(), name="api-releases"),
    path("api/public/releases/<str:system_version>", public_apis.ReleaseApi.as_view(), name="api-release"),
]
