"""Failed password sign-ins are limited per username and per client address,
across processes (Redis), on every password path (the portal and the admin)."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from core import login_throttle

RIGHT = "correct horse battery staple"


def attempt(password: str, username: str = "regulator", address: str = "10.0.0.1", path: str = "/portal/login"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


@override_settings(STAGEGATE_LOGIN_MAX_FAILURES_PER_USER=3)
def test_after_too_many_failures_even_the_right_password_is_refused(world):
    for _ in range(2):
        assert attempt("wrong").status_code == 200
    assert attempt("wrong").status_code == 429  # the failure that reaches the limit says so
    locked = attempt(RIGHT)
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 900
    assert b"Too many failed sign-ins" in locked.content and b"15 minutes" in locked.content
    assert "_auth_user_id" not in locked.wsgi_request.session
    # The same account spelt otherwise, and from another address: still refused.
    assert attempt(RIGHT, username="Regulator ", address="10.9.9.9").status_code == 429
    # The admin's login goes through the same backend.
    admin = attempt(RIGHT, path="/admin/login/")
    assert admin.status_code == 200 and "_auth_user_id" not in admin.wsgi_request.session


@override_settings(STAGEGATE_LOGIN_MAX_FAILURES_PER_USER=3)
def test_a_success_before_the_limit_clears_the_count(world):
    for _ in range(2):
        attempt("wrong")
    assert attempt(RIGHT).status_code == 302
    for _ in range(2):
        attempt("wrong")
    assert attempt(RIGHT).status_code == 302  # 2 + 2 failures, but never 3 in a row


@override_settings(STAGEGATE_LOGIN_MAX_FAILURES_PER_ADDRESS=4)
def test_one_address_guessing_at_many_accounts_is_stopped(world):
    for name in ("a", "b", "c"):
        assert attempt("wrong", username=name).status_code == 200
    assert attempt("wrong", username="d").status_code == 429
    assert attempt(RIGHT).status_code == 429  # a real account, from that address
    assert attempt(RIGHT, address="10.0.0.2").status_code == 302  # from elsewhere it works


@override_settings(STAGEGATE_LOGIN_MAX_FAILURES_PER_USER=2, STAGEGATE_LOGIN_WINDOW_SECONDS=1)
def test_the_window_ends(world):
    import time

    attempt("wrong")
    attempt("wrong")
    assert attempt(RIGHT).status_code == 429
    time.sleep(1.2)
    assert attempt(RIGHT).status_code == 302


@override_settings(STAGEGATE_LOGIN_MAX_FAILURES_PER_USER=2, REDIS_URL="redis://127.0.0.1:1/0")
def test_without_redis_the_limit_still_holds_in_the_process(world, caplog):
    attempt("wrong")
    attempt("wrong")
    assert attempt(RIGHT).status_code == 429
    assert "Redis unreachable" in caplog.text


@pytest.mark.parametrize("username", ["", None])
def test_no_username_counts_only_the_address(username, rf):
    request = rf.post("/portal/login", REMOTE_ADDR="10.1.2.3")
    assert [key for key, _ in login_throttle._keys(request, username)] == ["stagegate:login:addr:10.1.2.3"]
    assert login_throttle._keys(None, username) == []


def test_usernames_are_not_stored_in_the_clear(rf):
    [(key, limit)] = login_throttle._keys(None, "Regulator")
    assert "egulator" not in key and key == login_throttle._keys(None, " regulator ")[0][0]
    assert limit == 5


@override_settings(STAGEGATE_LOGIN_MAX_FAILURES_PER_USER=3)
def test_strangers_cannot_lock_a_known_user_out_of_their_own_device(world):
    """The red team locked the regulator out of the portal with 5 bad passwords."""
    regulator = Client(REMOTE_ADDR="10.0.0.7")
    signed_in = regulator.post("/portal/login", {"username": "regulator", "password": RIGHT})
    assert signed_in.status_code == 302
    device = signed_in.cookies[login_throttle.DEVICE_COOKIE]
    assert device["httponly"] and int(device["max-age"]) == login_throttle.DEVICE_DAYS * 86400
    regulator.post("/portal/logout")
    for _ in range(5):  # an attacker, elsewhere, names the regulator
        attempt("wrong", address="203.0.113.5")
    assert attempt(RIGHT, address="203.0.113.6").status_code == 429  # the username's limit holds elsewhere
    # On the device the regulator signed in from, the right password still works.
    again = regulator.post("/portal/login", {"username": "regulator", "password": RIGHT})
    assert again.status_code == 302 and "_auth_user_id" in again.wsgi_request.session


@override_settings(STAGEGATE_LOGIN_MAX_FAILURES_PER_USER=3)
def test_a_device_cookie_is_no_way_around_the_limit(world):
    device = Client(REMOTE_ADDR="10.0.0.8")
    assert device.post("/portal/login", {"username": "regulator", "password": RIGHT}).status_code == 302
    device.post("/portal/logout")
    # Guessing on that device meets the device's own limit ...
    for _ in range(3):
        device.post("/portal/login", {"username": "regulator", "password": "wrong"})
    assert device.post("/portal/login", {"username": "regulator", "password": RIGHT}).status_code == 429
    # ... the cookie exempts nobody else's username ...
    for _ in range(3):
        attempt("wrong", username="auditor", address="10.0.0.9")
    device.cookies[login_throttle.DEVICE_COOKIE] = device.cookies[login_throttle.DEVICE_COOKIE].value
    assert device.post("/portal/login", {"username": "auditor", "password": RIGHT}).status_code == 429
    # ... and a forged one is ignored.
    forged = Client(REMOTE_ADDR="10.0.0.10")
    forged.cookies[login_throttle.DEVICE_COOKIE] = "eyJ1IjoiYWJjIn0:forged:sig"
    assert forged.post("/portal/login", {"username": "auditor", "password": RIGHT}).status_code == 429
