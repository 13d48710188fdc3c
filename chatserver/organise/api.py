"""The organiser's JSON API (/api/v1), for organisations that run their own sign-up: the
same actions as the console, with ``Authorization: Bearer <HUDDLE_API_KEY>``, limited per
client address, described by ``openapi.json`` (served at /api/v1/openapi.json and checked
against the running server by tests/integration/test_organise_api.py). Also the one call
a member's browser makes: renewing its session credential (``POST /api/v1/session``)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from chatserver.auth import AuthError, decode_token
from chatserver.organise.credentials import same_secret
from chatserver.organise.organiser import OrganiseError, Organiser
from chatserver.organise.ratelimit import Limiter
from chatserver.organise.records import public_invitation

OPENAPI: Final = Path(__file__).resolve().parent / "openapi.json"
ACTOR: Final = "api"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def base_url(request: web.Request) -> str:
    """The server's address as the person reached it (nginx passes Host and the scheme)."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme)
    scheme = "https" if scheme == "https" else "http"
    return f"{scheme}://{request.host}"


def invitation_url(request: web.Request, code: str) -> str:
    return f"{base_url(request)}/invite/{code}"


class Api:
    def __init__(
        self,
        organiser: Organiser,
        *,
        secret: str,
        api_key: str | None,
        limiter: Limiter,
        address: Callable[[web.Request], str],
    ) -> None:
        self._organiser = organiser
        self._secret = secret
        self._api_key = api_key
        self._limiter = limiter
        self._address = address

    def routes(self, app: web.Application) -> None:
        add = app.router.add_route
        add("GET", "/api/v1/openapi.json", self.openapi)
        add("POST", "/api/v1/session", self.limited(self.session))
        add("GET", "/api/v1/groups", self.keyed(self.list_groups))
        add("POST", "/api/v1/groups", self.keyed(self.create_group))
        add("GET", "/api/v1/groups/{room}", self.keyed(self.get_group))
        add("PATCH", "/api/v1/groups/{room}", self.keyed(self.update_group))
        add("GET", "/api/v1/groups/{room}/invitations", self.keyed(self.list_invitations))
        add("POST", "/api/v1/groups/{room}/invitations", self.keyed(self.invite))
        add("DELETE", "/api/v1/invitations/{id}", self.keyed(self.revoke))
        add("GET", "/api/v1/groups/{room}/members", self.keyed(self.list_members))
        add("POST", "/api/v1/groups/{room}/members", self.keyed(self.add_member))
        add("DELETE", "/api/v1/members/{id}", self.keyed(self.remove_member))
        add("POST", "/api/v1/members/{id}/forget", self.keyed(self.forget_member))
        add("GET", "/api/v1/audit", self.keyed(self.audit))

    # -- the gate every call passes ------------------------------------------------------

    def limited(self, handler: Handler) -> Handler:
        async def limit(request: web.Request) -> web.StreamResponse:
            wait = self._limiter.retry_after(self._address(request))
            if wait is not None:
                seconds = max(1, round(wait))
                return web.json_response(
                    {"error": f"Too many requests; try again in {seconds} s."},
                    status=429,
                    headers={"Retry-After": str(seconds)},
                )
            try:
                return await handler(request)
            except OrganiseError as exc:
                return error(exc.status, str(exc))

        return limit

    def keyed(self, handler: Handler) -> Handler:
        async def check_key(request: web.Request) -> web.StreamResponse:
            if self._api_key is None:
                return error(403, "The API is off on this server: set HUDDLE_API_KEY to use it.")
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not same_secret(given.strip(), self._api_key):
                return error(401, "Send the API key as Authorization: Bearer <key>.")
            return await handler(request)

        return self.limited(check_key)

    # -- the API -------------------------------------------------------------------------

    async def openapi(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(OPENAPI, headers={"Content-Type": "application/json"})

    async def session(self, request: web.Request) -> web.StreamResponse:
        """A member's browser renews its session credential each time they come back."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return error(401, "Send your session credential as Authorization: Bearer <token>.")
        try:
            claims = decode_token(token.strip(), self._secret, int(time.time()))
        except AuthError as exc:
            expired = str(exc) == "token expired"
            return error(401, f"Your sign-in cannot be renewed ({exc}).", expired=expired)
        try:
            member, credential = await self._organiser.refresh(claims)
        except OrganiseError as exc:
            return error(exc.status, str(exc), ended=exc.status == 403)
        return web.json_response(
            {
                "token": credential,
                "expires_in_s": self._organiser.session_ttl_s,
                "room": member["room"],
                "name": member["name"],
                "role": member["role"],
            }
        )

    async def list_groups(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"groups": await self._organiser.store.groups()})

    async def create_group(self, request: web.Request) -> web.StreamResponse:
        group = await self._organiser.create_group(await _body(request), ACTOR)
        return web.json_response(group, status=201)

    async def get_group(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(await self._organiser.group(request.match_info["room"]))

    async def update_group(self, request: web.Request) -> web.StreamResponse:
        fields = await _body(request)
        room = request.match_info["room"]
        return web.json_response(await self._organiser.update_group(room, fields, ACTOR))

    async def list_invitations(self, request: web.Request) -> web.StreamResponse:
        room = request.match_info["room"]
        await self._organiser.group(room)
        now = self._organiser.now_ms()
        found = await self._organiser.store.invitations(room)
        return web.json_response({"invitations": [public_invitation(i, now) for i in found]})

    async def invite(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        made = await self._organiser.invite(
            request.match_info["room"],
            role=body.get("role", "member"),
            uses=body.get("uses", 1),
            hours=body.get("expires_in_hours", 72),
            label=body.get("label", ""),
            actor=ACTOR,
        )
        shown = public_invitation(made.invitation, self._organiser.now_ms())
        url = invitation_url(request, made.code)
        return web.json_response({"invitation": shown, "url": url}, status=201)

    async def revoke(self, request: web.Request) -> web.StreamResponse:
        invitation, ended = await self._organiser.revoke_invitation(request.match_info["id"], ACTOR)
        shown = public_invitation(invitation, self._organiser.now_ms())
        return web.json_response({"invitation": shown, "members_removed": ended})

    async def list_members(self, request: web.Request) -> web.StreamResponse:
        room = request.match_info["room"]
        await self._organiser.group(room)
        return web.json_response({"members": await self._organiser.store.members(room)})

    async def add_member(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        room = request.match_info["room"]
        member, credential = await self._organiser.add_member(
            room, name=body.get("name"), role=body.get("role", "member"), actor=ACTOR
        )
        return web.json_response(
            {
                "member": member,
                "token": credential,
                "expires_in_s": self._organiser.session_ttl_s,
                "url": f"{base_url(request)}/#room={room}",
            },
            status=201,
        )

    async def remove_member(self, request: web.Request) -> web.StreamResponse:
        member = await self._organiser.remove_member(request.match_info["id"], ACTOR)
        return web.json_response({"member": member})

    async def forget_member(self, request: web.Request) -> web.StreamResponse:
        member = await self._organiser.forget_member(request.match_info["id"], ACTOR)
        return web.json_response({"member": member})

    async def audit(self, request: web.Request) -> web.StreamResponse:
        room = request.query.get("room") or None
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= 1000:
            raise OrganiseError("limit must be a whole number from 1 to 1000.")
        return web.json_response({"audit": await self._organiser.store.audit(room, limit)})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise OrganiseError("The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise OrganiseError("The request body must be a JSON object.")
    return body
