"""The review desk's pages: sign-in, the queue, a thread with its facts, quote and audit log, and the decisions.

Security: a signed session cookie (starlette's SessionMiddleware, HttpOnly, SameSite=Lax), a
CSRF token in every form (a POST without the session's token is refused with 403, as is one
whose Origin is another site), and every thread route checks that the thread's tenant is one
of the user's (403 otherwise). Quote HTML is served on its own URL with a sandboxing CSP and
shown in an iframe, so a template can never run script in the desk's origin.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote
from urllib.parse import urlsplit

import jinja2
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry, Counter
from starlette.middleware.sessions import SessionMiddleware

from services.review.handlers import load_thread
from services.review.records import (
    OPEN_STATUSES,
    STATUSES,
    AuditEntry,
    Decision,
    ReviewBook,
    ReviewConflict,
    ReviewRecord,
    Status,
)
from services.review.settings import ReviewSettings
from services.review.users import UserDirectory, UsersFileError
from services.review.views import (
    CHOICES,
    LABELS,
    FormResult,
    anchor_of,
    basis,
    changes,
    fact_text,
    facts_from_form,
    form_values,
    message_views,
)
from shared.consumer import publish_event
from shared.events import ITEM_FIELDS, PARTY_FIELDS, SCALAR_FIELDS, FactsCorrected
from shared.store import Store
from shared.tenants import UnsafeNameError, check_plain_name, check_tenant

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "quoteflow_review"
LOCK_S = 15 * 60
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
QUOTE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; frame-ancestors 'self'; sandbox"
)


@dataclass(frozen=True)
class Identity:
    name: str
    tenants: tuple[str, ...]
    via: str


class NotSignedIn(Exception):
    pass


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["anchor"] = anchor_of
    env.filters["money"] = money
    env.filters["fact"] = fact_text
    return env


def build_web(
    settings: ReviewSettings,
    store: Store,
    book: ReviewBook,
    publish: Any,
    users: UserDirectory | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """The desk's FastAPI app (the caller includes the KafkaRouter, which starts the consumers with it).

    ``publish`` sends a FactsCorrected to quoteflow.facts.corrected (a faststream publisher).
    """
    users = users or UserDirectory(settings.users_path())
    decisions = Counter(
        "quoteflow_review_decisions",
        "Review desk decisions by action (approved, corrected, rejected).",
        ["service", "action"],
        registry=registry or CollectorRegistry(),
    )
    sign_ins = Counter(
        "quoteflow_review_sign_ins",
        "Password sign-ins by outcome (ok, failed, locked).",
        ["service", "outcome"],
        registry=registry or CollectorRegistry(),
    )
    templates = Jinja2Templates(env=_environment())
    secret = settings.session_secret.get_secret_value() if settings.session_secret else secrets.token_urlsafe(32)
    app = FastAPI(title="QuoteFlow review desk", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={url_quote(target)}", status_code=303)
        return HTMLResponse("not signed in", status_code=401)

    # ----------------------------------------------------------------- identity, CSRF

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    async def checked_form(request: Request) -> dict[str, Any]:
        """The posted form, after the CSRF checks (403 when they fail)."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            raise HTTPException(403, "cross-site request refused")
        form = await request.form()
        sent, expected = form.get("csrf_token"), request.session.get("csrf")
        if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
        return dict(form)

    def identity(request: Request) -> Identity | None:
        directory = users
        if settings.sso_header:
            name = request.headers.get(settings.sso_header)
            client = request.client.host if request.client else ""
            if name and client in settings.review_trusted_proxies:
                tenants: tuple[str, ...] = ()
                if settings.sso_tenants_header:
                    raw = request.headers.get(settings.sso_tenants_header, "")
                    tenants = tuple(t for t in (p.strip() for p in raw.split(",")) if _valid_tenant(t))
                elif (known := directory.get(name)) is not None:
                    tenants = known.tenants
                return Identity(name, tenants, "sso")
        name = request.session.get("user")
        if isinstance(name, str) and (user := directory.get(name)) is not None:
            return Identity(user.name, user.tenants, "password")
        return None

    def require(request: Request) -> Identity:
        who = identity(request)
        if who is None:
            raise NotSignedIn()
        return who

    def allowed(who: Identity, tenant: str) -> None:
        if tenant not in who.tenants:
            raise HTTPException(403, f"{who.name} may not see tenant {tenant!r}")

    def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        context = {"user": identity(request), "csrf_token": csrf_token(request), "message": None, **context}
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return page(request, "error.html.j2", {"status": exc.status_code, "detail": exc.detail}, exc.status_code)

    @app.exception_handler(UsersFileError)
    async def users_file_error(request: Request, exc: UsersFileError) -> Response:
        logger.error("review desk users file: %s", exc)
        return HTMLResponse("the desk's users file is invalid: see the service log", status_code=503)

    # ----------------------------------------------------------------- sign-in

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/queue") -> Response:
        return page(request, "login.html.j2", {"next": _local(next), "error": None, "sso": settings.sso_header})

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await checked_form(request)
        name, password = str(form.get("username", "")).strip().lower(), str(form.get("password", ""))
        target = _local(str(form.get("next", "/queue")))
        client = request.client.host if request.client else "-"
        lock = "review-login:" + hashlib.sha256(f"{name}|{client}".encode()).hexdigest()[:24]
        failures = int(await store.get(lock) or 0)
        if failures >= settings.login_max_failures:
            sign_ins.labels(settings.service_name, "locked").inc()
            context = {"next": target, "error": "too many failed sign-ins: try again in 15 minutes", "sso": None}
            return page(request, "login.html.j2", context, 429)
        user = users.verify(name, password)
        if user is None:
            sign_ins.labels(settings.service_name, "failed").inc()
            await store.incr(lock)
            await store.expire(lock, LOCK_S)
            context = {"next": target, "error": "wrong user name or password", "sso": settings.sso_header}
            return page(request, "login.html.j2", context, 401)
        await store.delete(lock)
        sign_ins.labels(settings.service_name, "ok").inc()
        request.session.clear()  # a new session (and CSRF token) at sign-in: no fixation
        request.session["user"] = user.name
        request.session["csrf"] = secrets.token_urlsafe(32)
        logger.info("review desk: %s signed in", user.name)
        return RedirectResponse(target, status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await checked_form(request)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # ----------------------------------------------------------------- queue

    @app.get("/")
    async def home() -> Response:
        return RedirectResponse("/queue", status_code=303)

    @app.get("/queue", response_class=HTMLResponse)
    async def queue(request: Request, tenant: str = "", status: str = "open", page_number: int = 1) -> Response:
        who = require(request)
        if tenant:
            allowed(who, tenant)
        statuses: tuple[Status, ...] | None
        if status == "open":
            statuses = OPEN_STATUSES
        elif status == "all":
            statuses = None
        elif status in STATUSES:
            statuses = (status,)  # type: ignore[assignment]
        else:
            raise HTTPException(400, f"unknown status {status!r}")
        found = await book.queue([tenant] if tenant else list(who.tenants), statuses, page_number)
        context = {
            "page": found,
            "tenant": tenant,
            "status": status,
            "statuses": ["open", *STATUSES, "all"],
            "title": "Auto-approved threads" if status == "auto_approved" else "Review queue",
        }
        return page(request, "queue.html.j2", context)

    @app.get("/auto-approved")
    async def auto_approved(request: Request, tenant: str = "") -> Response:
        suffix = f"&tenant={url_quote(tenant)}" if tenant else ""
        return RedirectResponse(f"/queue?status=auto_approved{suffix}", status_code=303)

    # ----------------------------------------------------------------- a thread

    async def load(request: Request, tenant: str, thread_id: str) -> tuple[Identity, ReviewRecord]:
        who = require(request)
        if not _valid_tenant(tenant) or not _valid_thread(thread_id):
            raise HTTPException(404, "no such thread")
        allowed(who, tenant)
        record = await book.get(tenant, thread_id)
        if record is None:
            raise HTTPException(404, "no such thread")
        return who, record

    async def thread_page(
        request: Request,
        record: ReviewRecord,
        form: FormResult | None = None,
        message: str | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        thread = await load_thread(store, record.tenant, record.thread_id)
        evidence = record.facts.evidence if record.facts else []
        views, located = message_views(thread, evidence) if thread else ([], set())
        values = form.values if form else (form_values(record.facts.facts) if record.facts else {})
        rows = len(record.facts.facts.items) if record.facts else 0
        if form is not None:
            rows = form.rows
        context = {
            "record": record,
            "thread": thread,
            "messages": views,
            "located": located,
            "evidence": {e.field: e for e in evidence},
            "values": values,
            "errors": form.errors if form else {},
            "rows": rows + 1,
            "basis": basis(record),
            "audit": await book.audit_log(record.tenant, record.thread_id),
            "party_fields": PARTY_FIELDS,
            "item_fields": ITEM_FIELDS,
            "scalar_fields": SCALAR_FIELDS,
            "labels": LABELS,
            "choices": CHOICES,
            "message": message,
        }
        return page(request, "thread.html.j2", context, status_code)

    @app.get("/t/{tenant}/{thread_id}", response_class=HTMLResponse)
    async def show_thread(request: Request, tenant: str, thread_id: str) -> Response:
        _who, record = await load(request, tenant, thread_id)
        return await thread_page(request, record)

    @app.get("/t/{tenant}/{thread_id}/quote/{revision}.html")
    async def quote_html(request: Request, tenant: str, thread_id: str, revision: int) -> Response:
        _who, record = await load(request, tenant, thread_id)
        found = next((q for q in record.quotes if q.revision == revision), None)
        if found is None:
            raise HTTPException(404, "no such revision")
        headers = {"Content-Security-Policy": QUOTE_CSP, "X-Frame-Options": "SAMEORIGIN"}
        return HTMLResponse(found.html, headers=headers)

    @app.get("/t/{tenant}/{thread_id}/quote/{revision}.pdf")
    async def quote_pdf(request: Request, tenant: str, thread_id: str, revision: int) -> Response:
        _who, record = await load(request, tenant, thread_id)
        found = next((q for q in record.quotes if q.revision == revision), None)
        if found is None:
            raise HTTPException(404, "no such revision")
        import asyncio

        from shared.pdf import PdfUnavailableError, html_to_pdf

        try:
            pdf = await asyncio.to_thread(html_to_pdf, found.html)
        except PdfUnavailableError as exc:
            raise HTTPException(501, str(exc)) from exc
        name = f"{found.quote_number}-r{found.revision}.pdf"
        return Response(
            pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
        )

    # ----------------------------------------------------------------- decisions

    def decide(record: ReviewRecord, sent_basis: str, status: Status, decision: Decision) -> Any:
        def change(current: ReviewRecord | None) -> ReviewRecord:
            if current is None or basis(current) != sent_basis:
                raise ReviewConflict("the thread changed while you were looking at it")
            return current.model_copy(update={"status": status, "decision": decision})

        return change

    async def conflict(request: Request, tenant: str, thread_id: str) -> HTMLResponse:
        fresh = await book.get(tenant, thread_id)
        assert fresh is not None
        text = (
            "This thread changed while you were looking at it (new facts or another reviewer's decision): "
            "check it again."
        )
        return await thread_page(request, fresh, message=text, status_code=409)

    async def approve_with(
        request: Request, who: Identity, record: ReviewRecord, form: dict[str, Any], parsed: FormResult | None
    ) -> Response:
        assert record.facts is not None
        if str(form.get("basis", "")) != basis(record):
            return await conflict(request, record.tenant, record.thread_id)
        facts = parsed.facts if parsed is not None and parsed.facts is not None else record.facts.facts
        changed = changes(record.facts.facts, facts)
        correction = FactsCorrected(
            thread_id=record.thread_id,
            tenant=record.tenant,
            facts=facts,
            corrected_by=who.name,
            confirmed=True,
            changed_fields=[path for path, _old, _new in changed],
            thread_version=record.facts.thread_version,
            thread_started_at=record.facts.thread_started_at,
        )
        await publish_event(publish, correction, key=record.thread_id, tenant=record.tenant)
        status: Status = "corrected" if changed else "approved"
        decision = Decision(
            action=status,
            by=who.name,
            facts_hash=facts.content_hash(),
            thread_version=record.facts.thread_version,
            changed_fields=correction.changed_fields,
        )
        try:
            await book.update(record.tenant, record.thread_id, decide(record, str(form["basis"]), status, decision))
        except ReviewConflict:
            return await conflict(request, record.tenant, record.thread_id)
        entries = [AuditEntry(who=who.name, action="corrected", field=p, before=o, after=n) for p, o, n in changed]
        entries.append(AuditEntry(who=who.name, action=status, note=f"thread version {record.facts.thread_version}"))
        await book.audit(record.tenant, record.thread_id, entries)
        decisions.labels(settings.service_name, status).inc()
        logger.info(
            "review: %s %s %s/%s (%d change(s))", who.name, status, record.tenant, record.thread_id, len(changed)
        )
        return RedirectResponse(f"/t/{record.tenant}/{record.thread_id}", status_code=303)

    @app.post("/t/{tenant}/{thread_id}/approve")
    async def approve(request: Request, tenant: str, thread_id: str) -> Response:
        form = await checked_form(request)
        who, record = await load(request, tenant, thread_id)
        if record.facts is None:
            raise HTTPException(409, "no facts to approve yet")
        return await approve_with(request, who, record, form, None)

    @app.post("/t/{tenant}/{thread_id}/correct")
    async def correct(request: Request, tenant: str, thread_id: str) -> Response:
        form = await checked_form(request)
        who, record = await load(request, tenant, thread_id)
        if record.facts is None:
            raise HTTPException(409, "no facts to correct yet")
        parsed = facts_from_form(form)
        if parsed.facts is None:
            return await thread_page(request, record, parsed, "Some values are not valid: see the marked fields.", 422)
        return await approve_with(request, who, record, form, parsed)

    @app.post("/t/{tenant}/{thread_id}/reject")
    async def reject(request: Request, tenant: str, thread_id: str) -> Response:
        form = await checked_form(request)
        who, record = await load(request, tenant, thread_id)
        note = str(form.get("note", "")).strip()[:500]
        decision = Decision(
            action="rejected", by=who.name, thread_version=record.facts.thread_version if record.facts else 1, note=note
        )
        try:
            await book.update(tenant, thread_id, decide(record, str(form.get("basis", "")), "rejected", decision))
        except ReviewConflict:
            return await conflict(request, tenant, thread_id)
        await book.audit(tenant, thread_id, [AuditEntry(who=who.name, action="rejected", note=note)])
        decisions.labels(settings.service_name, "rejected").inc()
        return RedirectResponse(f"/t/{tenant}/{thread_id}", status_code=303)

    return app


def money(value: object) -> str:
    """An amount with thousands separators (1,045,000; 8,360.00), or – when there is none."""
    if value is None or value == "":
        return "–"
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    return f"{number:,}"


def _valid_tenant(value: str) -> bool:
    try:
        check_tenant(value)
    except ValueError:
        return False
    return True


def _valid_thread(value: str) -> bool:
    try:
        check_plain_name(value, "thread id")
    except UnsafeNameError:
        return False
    return True


def _local(target: str) -> str:
    """A redirect target on this site only (no scheme, no host, no //): else the queue."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target
