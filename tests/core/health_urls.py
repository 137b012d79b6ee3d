"""A urlconf with only the health endpoint, at the path the service mounts it on."""

from django.urls import path

from core.health import HealthView

urlpatterns = [path("api/health", HealthView.as_view(), name="health")]
