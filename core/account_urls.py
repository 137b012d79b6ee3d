"""Where people set their password from the single-use link emailed to them
(core/accounts.py). Django's own views: the link's token stops working once the
password is set."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

urlpatterns = [
    path(
        "accounts/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(success_url=reverse_lazy("account-password-set")),
        name="account-set-password",
    ),
    path("accounts/set-password/done/", auth_views.PasswordResetCompleteView.as_view(), name="account-password-set"),
]
