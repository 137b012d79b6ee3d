from django.urls import path

from standards import apis

urlpatterns = [
    path("standards", apis.StandardListApi.as_view(), name="standard-list"),
    path("standards/current", apis.StandardCurrentApi.as_view(), name="standard-current"),
    path("standards/<uuid:pk>", apis.StandardDetailApi.as_view(), name="standard-detail"),
    path("standards/<uuid:pk>/publish", apis.StandardPublishApi.as_view(), name="standard-publish"),
]
