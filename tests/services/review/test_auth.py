"""Sign-in, sessions, CSRF and tenants: who may see and change what."""

from __future__ import annotations

from pathlib import Path

from services.review.users import read_users, write_users
from shared.events import FactsExtracted, NormalizedThread
from tests.services.review.conftest import Desk, desk_settings, make_desk

Talk = tuple[NormalizedThread, FactsExtracted]


async def test_a_post_without_the_csrf_token_is_refused(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    token = desk.login("minji")
    path = f"/t/default/{thread.thread_id}"
    basis = desk.basis(path)
    assert desk.client.post(f"{path}/approve", data={"basis": basis}).status_code == 403
    assert desk.client.post(f"{path}/approve", data={"basis": basis, "csrf_token": token + "x"}).status_code == 403
    assert desk.client.post(f"{path}/reject", data={"basis": basis}).status_code == 403
    assert desk.corrections == []
    assert "needs_review" in desk.client.get(path).text or "pending" in desk.client.get(path).text


async def test_a_cross_site_post_is_refused_even_with_the_token(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    token = desk.login("minji")
    path = f"/t/default/{thread.thread_id}"
    response = desk.client.post(
        f"{path}/approve",
        data={"csrf_token": token, "basis": desk.basis(path)},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert desk.corrections == []


async def test_sign_in_needs_the_csrf_token(desk: Desk) -> None:
    desk.client.get("/login")
    response = desk.client.post("/login", data={"username": "minji", "password": "hanbit-review-1"})
    assert response.status_code == 403
    assert desk.client.get("/queue", follow_redirects=False).status_code == 303


async def test_another_tenants_user_gets_403(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    token = desk.login("tom")
    path = f"/t/default/{thread.thread_id}"
    assert thread.thread_id not in desk.client.get("/queue?status=all").text
    assert desk.client.get(path).status_code == 403
    assert desk.client.get(f"{path}/quote/1.html").status_code == 403
    assert desk.client.get("/queue?tenant=default").status_code == 403
    response = desk.client.post(f"{path}/approve", data={"csrf_token": token, "basis": "x"})
    assert response.status_code == 403
    assert desk.corrections == []


async def test_a_user_of_both_tenants_sees_both(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    other = facts.model_copy(update={"tenant": "other", "thread_id": "t-other"})
    await desk.add_thread(thread.model_copy(update={"tenant": "other", "thread_id": "t-other"}), other)
    desk.login("both")
    page = desk.client.get("/queue").text
    assert thread.thread_id in page and "t-other" in page
    only = desk.client.get("/queue?tenant=other").text
    assert "t-other" in only and thread.thread_id not in only


async def test_a_removed_user_is_signed_out_at_once(desk: Desk, users_file: Path) -> None:
    desk.login("minji")
    assert desk.client.get("/queue").status_code == 200
    users = read_users(users_file)
    del users["minji"]
    write_users(users_file, users)
    assert desk.client.get("/queue", follow_redirects=False).status_code == 303


async def test_repeated_failures_lock_the_sign_in(users_file: Path) -> None:
    async for desk in make_desk(desk_settings(users_file, login_max_failures=2)):
        for _ in range(2):
            token = desk.csrf("/login")
            desk.client.post("/login", data={"csrf_token": token, "username": "minji", "password": "wrong-one"})
        token = desk.csrf("/login")
        response = desk.client.post(
            "/login", data={"csrf_token": token, "username": "minji", "password": "hanbit-review-1"}
        )
        assert response.status_code == 429


async def test_sign_in_redirects_only_to_this_site(desk: Desk) -> None:
    token = desk.csrf("/login")
    response = desk.client.post(
        "/login",
        data={"csrf_token": token, "username": "minji", "password": "hanbit-review-1", "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/queue"


async def test_pages_carry_security_headers(desk: Desk) -> None:
    response = desk.client.get("/login")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


async def test_sso_header_from_the_trusted_proxy_signs_in(users_file: Path, talk: Talk) -> None:
    settings = desk_settings(
        users_file,
        sso_header="X-Forwarded-User",
        sso_tenants_header="X-Forwarded-Tenants",
        review_trusted_proxies=["testclient"],
    )
    thread, facts = talk
    async for desk in make_desk(settings):
        await desk.add_thread(thread, facts)
        headers = {"X-Forwarded-User": "sso-jun", "X-Forwarded-Tenants": "default, bad:tenant"}
        page = desk.client.get(f"/t/default/{thread.thread_id}", headers=headers)
        assert page.status_code == 200 and "sso-jun" in page.text
        assert desk.client.get("/queue?tenant=other", headers=headers).status_code == 403


async def test_sso_header_from_elsewhere_is_ignored(users_file: Path) -> None:
    settings = desk_settings(users_file, sso_header="X-Forwarded-User", sso_tenants_header="X-Forwarded-Tenants")
    async for desk in make_desk(settings):  # TestClient's address is "testclient", not a trusted proxy
        response = desk.client.get(
            "/queue", headers={"X-Forwarded-User": "mallory", "X-Forwarded-Tenants": "default"}, follow_redirects=False
        )
        assert response.status_code == 303


async def test_mail_text_is_escaped_and_odd_ids_are_not_found(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    first = thread.messages[0]
    hostile = first.model_copy(
        update={"text": first.text + '\n<script>alert("x")</script><img src=x onerror=alert(1)>'}
    )
    thread = thread.model_copy(update={"messages": [hostile, *thread.messages[1:]]})
    await desk.add_thread(thread, facts)
    desk.login("minji")
    page = desk.client.get(f"/t/default/{thread.thread_id}").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    for path in ("/t/default/..%2Fx", "/t/Default/x", "/t/default/a:b", "/t/default/t-unknown"):
        assert desk.client.get(path).status_code in (403, 404), path
