from django.urls import path

from transparency import apis

urlpatterns = [
    path("log/tree-head", apis.TreeHeadApi.as_view(), name="log-tree-head"),
    path("log/entries/<int:index>", apis.EntryApi.as_view(), name="log-entry"),
    path("log/proof/inclusion", apis.InclusionProofApi.as_view(), name="log-proof-inclusion"),
    path("log/proof/consistency", apis.ConsistencyProofApi.as_view(), name="log-proof-consistency"),
]
