from django.contrib.auth import views as auth_views
from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("login", views.LoginView.as_view(), name="login"),
    path("logout", auth_views.LogoutView.as_view(next_page="portal:login"), name="logout"),
    path("", views.home, name="home"),
    path("releases/<uuid:pk>", views.release_detail, name="release"),
    path("releases/<uuid:pk>/request", views.release_request, name="release-request"),
    path("releases/<uuid:pk>/halt", views.release_halt, name="release-halt"),
    path("releases/<uuid:pk>/resume", views.release_resume, name="release-resume"),
    path("releases/<uuid:pk>/reaudit", views.release_reaudit, name="release-reaudit"),
    path("gate-requests/<uuid:pk>", views.gate_request_detail, name="gate-request"),
    path("gate-requests/<uuid:pk>/decide", views.gate_request_decide, name="gate-request-decide"),
    path("gate-requests/<uuid:pk>/withdraw", views.gate_request_withdraw, name="gate-request-withdraw"),
    path("sanctions", views.sanctions, name="sanctions"),
    path("sanctions/issue", views.sanction_issue, name="sanction-issue"),
    path("sanctions/<uuid:pk>/lift", views.sanction_lift, name="sanction-lift"),
    path("incidents", views.incidents, name="incidents"),
]
