"""The organiser's console (/organise) and the pages members see on the way in
(/invite/<code>, /ended/<room>).

Signing in: with ``HUDDLE_ORGANISER_KEY`` when the deployment set one; otherwise with the
passphrase chosen on the one-time setup page whose link the run command prints (only its
hash is stored; it stops working once used). There is never a default password. A signed
-in organiser holds a cookie (HttpOnly, SameSite=Strict, only for /organise) carrying a
CSRF token that every console form echoes; a POST whose Origin is another site is refused
too. Sign-in attempts, console actions and invitation openings are rate-limited per
client address."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from chatserver.organise import pages
from chatserver.organise.api import base_url, invitation_url
from chatserver.organise.credentials import (
    CONSOLE_TTL_S,
    MIN_PASSPHRASE,
    ConsoleSession,
    code_hash,
    console_cookie,
    hash_passphrase,
    passphrase_matches,
    read_console_cookie,
    same_secret,
)
from chatserver.organise.crisis import crisis_lines
from chatserver.organise.organiser import OrganiseError, Organiser
from chatserver.organise.ratelimit import Limiter
from chatserver.organise.records import Group, Invitation
from chatserver.organise.setup import PASSPHRASE, SETUP

log = logging.getLogger(__name__)

COOKIE: Final = "huddle_organiser"
ACTOR: Final = "organiser"
PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Same-origin: a form's POST names its origin (the CSRF check); nothing leaves the site.
    "Referrer-Policy": "same-origin",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SignedIn = Callable[[web.Request, ConsoleSession], Awaitable[web.StreamResponse]]


def page(html: str, status: int = 200) -> web.Response:
    return web.Response(text=html, content_type="text/html", status=status, headers=PAGE_HEADERS)


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


class Console:
    def __init__(
        self,
        organiser: Organiser,
        *,
        secret: str,
        organiser_key: str | None,
        policies: frozenset[str],
        fallback_lines: tuple[tuple[str, str], ...],
        address: Callable[[web.Request], str],
    ) -> None:
        self._organiser = organiser
        self._store = organiser.store
        self._secret = secret
        self._key = organiser_key
        self._policies = policies
        self._fallback_lines = fallback_lines
        self._address = address
        self._sign_ins = Limiter(burst=5, refill_s=12.0)
        self._actions = Limiter(burst=60, refill_s=1.0)
        self._openings = Limiter(burst=60, refill_s=1.0)

    def routes(self, app: web.Application) -> None:
        add = app.router.add_route
        add("GET", "/organise", self.home)
        add("POST", "/organise/sign-in", self.sign_in)
        add("POST", "/organise/sign-out", self.signed_in(self.sign_out))
        add("GET", "/organise/setup/{code}", self.setup_form)
        add("POST", "/organise/setup/{code}", self.setup)
        add("POST", "/organise/groups", self.signed_in(self.create_group))
        add("GET", "/organise/groups/{room}", self.signed_in(self.group))
        add("POST", "/organise/groups/{room}", self.signed_in(self.update_group))
        add("POST", "/organise/groups/{room}/invitations", self.signed_in(self.invite))
        add("POST", "/organise/invitations/{id}/revoke", self.signed_in(self.revoke))
        add("POST", "/organise/members/{id}/remove", self.signed_in(self.remove))
        add("POST", "/organise/members/{id}/forget", self.signed_in(self.forget))
        add("GET", "/invite/{code}", self.invitation)
        add("POST", "/invite/{code}", self.accept)
        add("GET", "/ended/{room}", self.ended)

    # -- signing in ----------------------------------------------------------------------

    def _session(self, request: web.Request) -> ConsoleSession | None:
        return read_console_cookie(self._secret, request.cookies.get(COOKIE), now=int(time.time()))

    def _same_origin(self, request: web.Request) -> bool:
        """A form POST from a page of this server. Browsers name the page's origin (with
        the pages' same-origin referrer policy), or say ``null`` with Sec-Fetch-Site;
        a client that sends neither is not a browser another site could drive."""
        origin = request.headers.get("Origin")
        if origin == "null":
            return request.headers.get("Sec-Fetch-Site") == "same-origin"
        return origin is None or origin == base_url(request)

    def _limited(self, limiter: Limiter, request: web.Request) -> web.Response | None:
        wait = limiter.retry_after(self._address(request))
        if wait is None:
            return None
        seconds = max(1, round(wait))
        response = page(
            pages.layout(
                "Please wait · huddle",
                f"<h1>Please wait a moment</h1><p>Too many attempts from here; try again in "
                f"{seconds} seconds.</p>",
            ),
            429,
        )
        response.headers["Retry-After"] = str(seconds)
        return response

    def signed_in(self, handler: SignedIn) -> Handler:
        async def check(request: web.Request) -> web.StreamResponse:
            session = self._session(request)
            if session is None:
                if request.method == "GET":
                    return see_other("/organise")
                return await self._sign_in_page("Please sign in again.", 401)
            if request.method == "POST":
                limited = self._limited(self._actions, request)
                if limited is not None:
                    return limited
                form = await request.post()
                if not self._same_origin(request) or not same_secret(
                    str(form.get("csrf", "")), session.csrf
                ):
                    return page(
                        pages.layout(
                            "Refused · huddle",
                            "<h1>That form was refused</h1><p>It did not come from this "
                            'console (or it is too old). <a href="/organise">Back to the '
                            "console</a>.</p>",
                        ),
                        403,
                    )
            try:
                return await handler(request, session)
            except OrganiseError as exc:
                return await self._error(request, session, exc)

        return check

    async def _error(
        self, request: web.Request, session: ConsoleSession, exc: OrganiseError
    ) -> web.StreamResponse:
        room = request.match_info.get("room")
        if room is not None and await self._store.group_get(room) is not None:
            return await self._group_page(room, session, message=str(exc), error=True)
        return page(
            pages.groups_page(
                await self._store.groups(),
                csrf=session.csrf,
                policies=self._policies,
                message=str(exc),
                error=True,
            ),
            exc.status,
        )

    async def _sign_in_page(self, message: str = "", status: int = 200) -> web.Response:
        pending = await self._store.credential_get(SETUP) is not None
        html = pages.sign_in(message=message, setup_pending=pending, key_set=self._key is not None)
        return page(html, status)

    def _start_session(self, location: str, request: web.Request) -> web.Response:
        cookie, _ = console_cookie(self._secret, now=int(time.time()))
        response = see_other(location)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=CONSOLE_TTL_S,
            path="/organise",
            httponly=True,
            samesite="Strict",
            secure=base_url(request).startswith("https:"),
        )
        return response

    async def home(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            return await self._sign_in_page()
        groups = await self._store.groups()
        audit = await self._store.audit(None, 30)
        html = pages.groups_page(groups, csrf=session.csrf, policies=self._policies, audit=audit)
        return page(html)

    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        limited = self._limited(self._sign_ins, request)
        if limited is not None:
            return limited
        if not self._same_origin(request):
            return await self._sign_in_page("That sign-in came from another site.", 403)
        given = str((await request.post()).get("key", ""))
        ok = bool(given) and self._key is not None and same_secret(given, self._key)
        if not ok and given:
            stored = await self._store.credential_get(PASSPHRASE)
            ok = stored is not None and passphrase_matches(given, stored)
        if not ok:
            log.info("organiser sign-in refused from %s", self._address(request))
            return await self._sign_in_page("That key or passphrase is not right.", 401)
        await self._organiser.audit(ACTOR, "signed_in", "")
        return self._start_session("/organise", request)

    async def sign_out(self, request: web.Request, session: ConsoleSession) -> web.StreamResponse:
        response = see_other("/organise")
        response.del_cookie(COOKIE, path="/organise")
        return response

    async def _setup_code_ok(self, code: str) -> bool:
        stored = await self._store.credential_get(SETUP)
        return stored is not None and same_secret(code_hash(code), stored)

    async def setup_form(self, request: web.Request) -> web.StreamResponse:
        limited = self._limited(self._sign_ins, request)
        if limited is not None:
            return limited
        code = request.match_info["code"]
        if not await self._setup_code_ok(code):
            return await self._sign_in_page("That setup link has been used or replaced.", 404)
        return page(pages.setup(code))

    async def setup(self, request: web.Request) -> web.StreamResponse:
        limited = self._limited(self._sign_ins, request)
        if limited is not None:
            return limited
        code = request.match_info["code"]
        if not self._same_origin(request) or not await self._setup_code_ok(code):
            return await self._sign_in_page("That setup link has been used or replaced.", 404)
        form = await request.post()
        chosen, again = str(form.get("passphrase", "")), str(form.get("again", ""))
        if len(chosen) < MIN_PASSPHRASE:
            message = f"Please choose at least {MIN_PASSPHRASE} characters."
            return page(pages.setup(code, message=message), 400)
        if chosen != again:
            return page(pages.setup(code, message="The two passphrases differ."), 400)
        await self._store.credential_set(PASSPHRASE, hash_passphrase(chosen))
        await self._store.credential_set(SETUP, None)
        await self._organiser.audit(ACTOR, "passphrase_set", "")
        return self._start_session("/organise", request)

    # -- groups, invitations, members ----------------------------------------------------

    async def create_group(
        self, request: web.Request, session: ConsoleSession
    ) -> web.StreamResponse:
        form = await request.post()
        fields = {k: str(v) for k, v in form.items() if k != "csrf"}
        group = await self._organiser.create_group(fields, ACTOR)
        return see_other(f"/organise/groups/{group['room']}")

    async def _group_page(
        self,
        room: str,
        session: ConsoleSession,
        *,
        new_link: tuple[Invitation, str] | None = None,
        message: str = "",
        error: bool = False,
    ) -> web.Response:
        group = await self._organiser.group(room)
        html = pages.group_page(
            group,
            await self._store.invitations(room),
            await self._store.members(room),
            await self._store.audit(room, 50),
            csrf=session.csrf,
            policies=self._policies,
            now_ms=self._organiser.now_ms(),
            new_link=new_link,
            message=message,
            error=error,
        )
        return page(html, 400 if error else 200)

    async def group(self, request: web.Request, session: ConsoleSession) -> web.StreamResponse:
        return await self._group_page(request.match_info["room"], session)

    async def update_group(
        self, request: web.Request, session: ConsoleSession
    ) -> web.StreamResponse:
        room = request.match_info["room"]
        form = await request.post()
        fields = {k: str(v) for k, v in form.items() if k != "csrf"}
        await self._organiser.update_group(room, fields, ACTOR)
        return await self._group_page(room, session, message="Saved.")

    async def invite(self, request: web.Request, session: ConsoleSession) -> web.StreamResponse:
        room = request.match_info["room"]
        form = await request.post()
        made = await self._organiser.invite(
            room,
            role=str(form.get("role", "member")),
            uses=_whole(form.get("uses"), "How many people"),
            hours=_whole(form.get("hours"), "Valid for"),
            label=str(form.get("label", "")),
            actor=ACTOR,
        )
        link = (made.invitation, invitation_url(request, made.code))
        return await self._group_page(room, session, new_link=link)

    async def revoke(self, request: web.Request, session: ConsoleSession) -> web.StreamResponse:
        invitation, ended = await self._organiser.revoke_invitation(request.match_info["id"], ACTOR)
        words = f"Link taken back; {ended} place(s) ended." if ended else "Link taken back."
        return await self._group_page(invitation["room"], session, message=words)

    async def remove(self, request: web.Request, session: ConsoleSession) -> web.StreamResponse:
        member = await self._organiser.remove_member(request.match_info["id"], ACTOR)
        message = f"{member['name']} has been removed; their access has ended."
        return await self._group_page(member["room"], session, message=message)

    async def forget(self, request: web.Request, session: ConsoleSession) -> web.StreamResponse:
        member = await self._organiser.forget_member(request.match_info["id"], ACTOR)
        message = "Their name is forgotten; the record that a place was removed stays."
        return await self._group_page(member["room"], session, message=message)

    # -- what members see ----------------------------------------------------------------

    async def _problem(self, kind: str, group: Group | None, status: int) -> web.Response:
        locale = group["crisis_locale"] if group is not None else ""
        lines = crisis_lines(locale, self._fallback_lines)
        return page(pages.problem_page(kind, group, lines), status)

    async def invitation(self, request: web.Request) -> web.StreamResponse:
        limited = self._limited(self._openings, request)
        if limited is not None:
            return limited
        code = request.match_info["code"]
        state, invitation, group = await self._organiser.opened(code)
        if state != "ok" or invitation is None or group is None:
            return await self._problem(state, group, 404 if state == "unknown" else 410)
        return page(pages.invitation_page(group, invitation, code))

    async def accept(self, request: web.Request) -> web.StreamResponse:
        limited = self._limited(self._openings, request)
        if limited is not None:
            return limited
        code = request.match_info["code"]
        if not self._same_origin(request):
            return await self._problem("unknown", None, 403)
        name = str((await request.post()).get("name", ""))
        try:
            welcome = await self._organiser.redeem(code, name)
        except OrganiseError as exc:
            state, invitation, group = await self._organiser.opened(code)
            if state != "ok" or invitation is None or group is None:
                return await self._problem(state, group, 410)
            return page(pages.invitation_page(group, invitation, code, message=str(exc)), 400)
        if welcome.member is None or welcome.credential is None:
            status = 404 if welcome.outcome == "unknown" else 410
            return await self._problem(welcome.outcome, welcome.group, status)
        group_name = welcome.group["name"] if welcome.group is not None else welcome.member["room"]
        html = pages.welcome_page(
            welcome.member["room"], welcome.credential, welcome.member["name"], group_name
        )
        return page(html)

    async def ended(self, request: web.Request) -> web.StreamResponse:
        """Where a member's browser goes when their place has ended, or (``?why=expired``)
        when its sign-in ran out before they came back."""
        group = await self._store.group_get(request.match_info["room"])
        kind = "signin_expired" if request.query.get("why") == "expired" else "ended"
        return await self._problem(kind, group, 200)


def _whole(raw: object, what: str) -> int:
    try:
        return int(str(raw))
    except ValueError:
        raise OrganiseError(f"{what}: please enter a whole number.") from None
