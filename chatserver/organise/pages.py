"""The HTML of the organiser's console and of the pages a member sees on the way in.

Plain server-rendered forms: they work with scripts off, every value is escaped, and the
pages load only /web/organise.css (and /web/welcome.js once, to keep a new credential in
the browser), so the strict Content-Security-Policy of the web client applies to them.
The pages a member may land on in distress (a link that expired or was taken back, a
place that ended) say what happened, who to contact, and the crisis lines, first."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from html import escape
from typing import Final

from chatserver.organise.crisis import LOCALES
from chatserver.organise.records import (
    FORGOTTEN,
    AuditEntry,
    Group,
    Invitation,
    Member,
    Redemption,
    invitation_state,
)

CrisisLines = tuple[tuple[str, str], ...]

ROLE_WORDS: Final = {"member": "member", "facilitator": "facilitator"}


def e(value: object) -> str:
    return escape(str(value), quote=True)


def layout(title: str, body: str, *, script: str = "") -> str:
    scripts = f'<script type="module" src="/web/{e(script)}"></script>' if script else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/web/organise.css">'
        f"{scripts}</head><body><main>{body}</main></body></html>"
    )


def _field(
    label: str, name: str, value: str = "", *, kind: str = "text", hint: str = "", **attrs: str
) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{e(v)}"' for k, v in attrs.items())
    hint_html = f'<span class="hint" id="{e(name)}-hint">{e(hint)}</span>' if hint else ""
    described = f' aria-describedby="{e(name)}-hint"' if hint else ""
    return (
        f'<label>{e(label)}<input type="{kind}" name="{e(name)}" value="{e(value)}"'
        f"{described}{extra}>{hint_html}</label>"
    )


def _textarea(label: str, name: str, value: str, *, hint: str = "", rows: int = 4) -> str:
    hint_html = f'<span class="hint">{e(hint)}</span>' if hint else ""
    area = f'<textarea name="{e(name)}" rows="{rows}">{e(value)}</textarea>'
    return f"<label>{e(label)}{area}{hint_html}</label>"


def _select(label: str, name: str, options: Iterable[str], chosen: str) -> str:
    opts = "".join(
        f'<option value="{e(o)}"{" selected" if o == chosen else ""}>{e(o)}</option>'
        for o in options
    )
    return f'<label>{e(label)}<select name="{e(name)}">{opts}</select></label>'


def _csrf(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{e(token)}">'


def _notice(message: str, *, error: bool = False) -> str:
    if not message:
        return ""
    role = "alert" if error else "status"
    return f'<p class="{"error" if error else "notice"}" role="{role}">{e(message)}</p>'


def when(ms: int | None, tz: str = "UTC") -> str:
    if ms is None:
        return "—"
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return dt.datetime.fromtimestamp(ms / 1000, zone).strftime("%d %b %Y %H:%M")


# -- the console ---------------------------------------------------------------------------


def sign_in(*, message: str = "", setup_pending: bool, key_set: bool) -> str:
    if key_set:
        how = "Enter the organiser key your deployment was set up with (HUDDLE_ORGANISER_KEY)."
    elif setup_pending:
        how = (
            "No passphrase has been chosen yet: open the setup link printed when the server "
            "started, and choose one there."
        )
    else:
        how = "Enter the organiser passphrase chosen when this server was set up."
    return layout(
        "Organiser sign-in · huddle",
        "<h1>Organiser sign-in</h1>"
        f"<p>{e(how)}</p>{_notice(message, error=True)}"
        '<form method="post" action="/organise/sign-in">'
        + _field(
            "Organiser key or passphrase",
            "key",
            kind="password",
            autocomplete="current-password",
            required="",
        )
        + '<button type="submit">Sign in</button></form>',
    )


def setup(code: str, *, message: str = "") -> str:
    return layout(
        "Set up the organiser console · huddle",
        "<h1>Set up the organiser console</h1>"
        "<p>Choose the passphrase organisers will sign in with. It is stored only as a hash; "
        "this setup link stops working once it is chosen.</p>"
        f"{_notice(message, error=True)}"
        f'<form method="post" action="/organise/setup/{e(code)}">'
        + _field(
            "Passphrase (at least 12 characters)",
            "passphrase",
            kind="password",
            autocomplete="new-password",
            required="",
        )
        + _field(
            "The same passphrase again",
            "again",
            kind="password",
            autocomplete="new-password",
            required="",
        )
        + '<button type="submit">Save and sign in</button></form>',
    )


def _sign_out(csrf: str) -> str:
    return (
        '<form method="post" action="/organise/sign-out" class="inline sign-out">'
        f'{_csrf(csrf)}<button type="submit">Sign out</button></form>'
    )


def group_fields(group: Group | None, policies: Iterable[str]) -> str:
    g: dict[str, object] = dict(group) if group is not None else {}
    return (
        _field("Display name", "name", str(g.get("name", "")), required="", maxlength="80")
        + _field(
            "Time zone",
            "time_zone",
            str(g.get("time_zone", "Europe/London")),
            hint="e.g. Europe/London, America/New_York",
        )
        + _field(
            "Schedule", "schedule", str(g.get("schedule", "")), hint="e.g. Tuesdays 19:00-20:30"
        )
        + _textarea(
            "Group agreement (members read it before they join)",
            "agreement",
            str(g.get("agreement", "")),
        )
        + _select(
            "Crisis lines shown to members",
            "crisis_locale",
            LOCALES,
            str(g.get("crisis_locale", "en-GB")),
        )
        + _select("Moderation policy", "policy", sorted(policies), str(g.get("policy", "default")))
        + _field(
            "Who members can contact",
            "contact",
            str(g.get("contact", "")),
            hint="an email address or phone number for the organiser",
        )
    )


def groups_page(
    groups: list[Group],
    *,
    csrf: str,
    policies: Iterable[str],
    audit: list[AuditEntry] | None = None,
    message: str = "",
    error: bool = False,
) -> str:
    """``audit``: the newest organising across every group (sign-ins included)."""
    activity = "".join(
        f"<li>{e(when(a['ts']))} UTC · {e(a['actor'])} · {e(a['action'])} "
        f"{e(a['room'])} {e(a['target'])}</li>"
        for a in audit or []
    )
    rows = "".join(
        f'<li><a href="/organise/groups/{e(g["room"])}">{e(g["name"])}</a> '
        f'<span class="muted">room {e(g["room"])} · '
        f"{e(g['schedule'] or 'no schedule yet')}</span></li>"
        for g in groups
    )
    listing = (
        f'<ul class="groups">{rows}</ul>'
        if rows
        else "<p>No groups yet. Create the first one below.</p>"
    )
    return layout(
        "Groups · huddle organiser",
        "<header><h1>Your "
        f"groups</h1>{_sign_out(csrf)}</header>{_notice(message, error=error)}{listing}"
        '<section><h2>Create a group</h2><form method="post" action="/organise/groups">'
        + _csrf(csrf)
        + _field(
            "Room id (letters, digits, - or _; it cannot change later)",
            "room",
            required="",
            pattern="[A-Za-z0-9][A-Za-z0-9_.:\\-]{0,63}",
        )
        + group_fields(None, policies)
        + '<button type="submit">Create group</button></form></section>'
        + (
            f'<section><h2>Activity</h2><ul class="audit">{activity}</ul></section>'
            if activity
            else ""
        ),
    )


def group_page(
    group: Group,
    invitations: list[Invitation],
    members: list[Member],
    audit: list[AuditEntry],
    *,
    csrf: str,
    policies: Iterable[str],
    now_ms: int,
    new_link: tuple[Invitation, str] | None = None,
    message: str = "",
    error: bool = False,
) -> str:
    room, tz = group["room"], group["time_zone"]
    made = ""
    if new_link is not None:
        inv, url = new_link
        made = (
            '<section class="new-link" aria-live="polite"><h2>New '
            f"{e(ROLE_WORDS[inv['role']])} link</h2>"
            "<p>Copy it now and send it to the person (or people) it is for: it is shown only "
            "once.</p>"
            f'<p><input class="link" readonly value="{e(url)}" aria-label="the new link" '
            'id="new-link"></p></section>'
        )
    inv_rows = "".join(_invitation_row(i, csrf=csrf, now_ms=now_ms, tz=tz) for i in invitations)
    member_rows = "".join(_member_row(m, csrf=csrf, tz=tz) for m in members)
    audit_rows = "".join(
        f"<li>{e(when(a['ts'], tz))} · {e(a['actor'])} · {e(a['action'])} {e(a['target'])}</li>"
        for a in audit
    )
    return layout(
        f"{group['name']} · huddle organiser",
        f'<header><p><a href="/organise">← All groups</a></p><h1>{e(group["name"])}</h1>'
        f"{_sign_out(csrf)}</header>{_notice(message, error=error)}{made}"
        "<section><h2>Invite people</h2>"
        f'<form method="post" action="/organise/groups/{e(room)}/invitations" class="invite">'
        + _csrf(csrf)
        + _select("Invite a", "role", ("member", "facilitator"), "member")
        + _field("How many people can use it", "uses", "1", kind="number", min="1", max="500")
        + _field("Valid for (hours)", "hours", "72", kind="number", min="1", max="2160")
        + _field("Note (who it is for; only organisers see it)", "label", "", maxlength="80")
        + '<button type="submit">Make the link</button></form>'
        "<table "
        'class="invitations"><caption>Links</caption><thead><tr><th>For</th><th>Note</th><th>Used</th>'
        f"<th>Expires</th><th>State</th><th></th></tr></thead><tbody>{inv_rows}</tbody></table></section>"
        "<section><h2>Members</h2><table "
        'class="members"><thead><tr><th>Name</th><th>Role</th><th>Joined</th>'
        f"<th>Last seen</th><th></th></tr></thead><tbody>{member_rows}</tbody></table></section>"
        f'<section><h2>Group settings</h2><form method="post" action="/organise/groups/{e(room)}">'
        + _csrf(csrf)
        + f'<p class="muted">Room id: {e(room)}</p>'
        + group_fields(group, policies)
        + '<button type="submit">Save changes</button></form></section>'
        f'<section><h2>Activity</h2><ul class="audit">{audit_rows}</ul></section>',
    )


def _invitation_row(inv: Invitation, *, csrf: str, now_ms: int, tz: str) -> str:
    state = invitation_state(inv, now_ms)
    words = {
        "ok": "open",
        "expired": "expired",
        "revoked": "taken back",
        "used_up": "used up",
        "unknown": "?",
    }
    action = ""
    if state != "revoked":
        action = (
            f'<form method="post" action="/organise/invitations/{e(inv["id"])}/revoke" '
            'class="inline">'
            f'{_csrf(csrf)}<button type="submit" class="danger">Take back</button></form>'
        )
    return (
        f'<tr data-invitation="{e(inv["id"])}"><td>{e(inv["role"])}</td><td>{e(inv["label"])}</td>'
        f"<td>{inv['uses']} of {inv['uses_allowed']}</td><td>{e(when(inv['expires_ms'], tz))}</td>"
        f"<td>{e(words[state])}</td><td>{action}</td></tr>"
    )


def _member_row(m: Member, *, csrf: str, tz: str) -> str:
    if m["removed_ms"] is not None:
        action = f"removed {e(when(m['removed_ms'], tz))}"
        if m["name"] != FORGOTTEN:
            action += (
                f' <form method="post" action="/organise/members/{e(m["id"])}/forget" '
                f'class="inline">{_csrf(csrf)}<button type="submit" aria-label="Forget name: '
                f'{e(m["name"])}">Forget name</button></form>'
            )
    else:
        action = (
            f'<form method="post" action="/organise/members/{e(m["id"])}/remove" class="inline">'
            f'{_csrf(csrf)}<button type="submit" class="danger" aria-label="Remove '
            f'{e(m["name"])}">Remove</button></form>'
        )
    return (
        f'<tr data-member="{e(m["id"])}"><td>{e(m["name"])}</td><td>{e(m["role"])}</td>'
        f"<td>{e(when(m['joined_ms'], tz))}</td><td>{e(when(m['last_seen_ms'], tz))}</td>"
        f"<td>{action}</td></tr>"
    )


# -- what members see ------------------------------------------------------------------------


def invitation_page(
    group: Group, invitation: Invitation, code: str, *, message: str = "", name: str = ""
) -> str:
    facilitator = invitation["role"] == "facilitator"
    intro = (
        "You have been asked to facilitate this group."
        if facilitator
        else "You have been invited to join this peer support group."
    )
    agreement = (
        '<section class="agreement"><h2>Our group '
        f"agreement</h2><p>{e(group['agreement'])}</p></section>"
        if group["agreement"]
        else ""
    )
    schedule = (
        f"<p>We meet: {e(group['schedule'])} ({e(group['time_zone'])} time).</p>"
        if group["schedule"]
        else ""
    )
    return layout(
        f"Join {group['name']} · huddle",
        f"<h1>{e(group['name'])}</h1><p>{e(intro)}</p>"
        f'<p class="notice" id="already" data-room="{e(group["room"])}" hidden>This browser '
        f'already has a place in this group: <a href="/#room={e(group["room"])}">go to '
        f"{e(group['name'])}</a>. Choose a name below only if someone else is joining from "
        "it.</p>"
        f"{schedule}{agreement}{_notice(message, error=True)}"
        f'<form method="post" action="/invite/{e(code)}">'
        + _field(
            "The name the group will see",
            "name",
            name,
            required="",
            maxlength="64",
            autocomplete="off",
            hint="This is a pseudonym: it does not have to be your real name, and nobody in the "
            "group sees anything else about you. You can use a first name, a nickname or anything "
            "you like.",
        )
        + '<button type="submit">Join the group</button></form>',
        script="invite.js",
    )


def welcome_page(room: str, credential: str, name: str, group_name: str) -> str:
    return layout(
        f"Welcome · {group_name}",
        f'<div id="welcome" data-room="{e(room)}" data-token="{e(credential)}"></div>'
        f"<h1>Welcome, {e(name)}</h1><p>Taking you to {e(group_name)}…</p>"
        f'<p>Next time, open <a href="/#room={e(room)}">this address</a> in the same browser: it '
        "remembers you.</p>",
        script="welcome.js",
    )


PROBLEMS: Final[dict[str, tuple[str, str]]] = {
    "expired": (
        "This invitation has expired",
        "Invitations only work for a limited time, to keep the group safe, and this one's time is "
        "up. "
        "Nothing is wrong with you or what you did.",
    ),
    "revoked": (
        "This invitation has been taken back",
        "The group's organiser has withdrawn this invitation, so it no longer lets anyone in.",
    ),
    "used_up": (
        "This invitation has already been used",
        "It was made for a set number of people and they have all joined with it.",
    ),
    "unknown": (
        "We could not find this invitation",
        "The link may have been copied only in part, or it may be from a different server.",
    ),
    "signin_expired": (
        "Your sign-in has expired",
        "It has been a while since this browser last came to the group, so its sign-in has "
        "run out. Your place may still be there: nothing is wrong with you or what you did.",
    ),
    "ended": (
        "Your place in this group has ended",
        "The group's organiser has removed your place, or taken back the invitation you joined "
        "with.",
    ),
}


def problem_page(kind: Redemption | str, group: Group | None, lines: CrisisLines) -> str:
    title, what = PROBLEMS.get(kind, PROBLEMS["unknown"])
    contact = group["contact"] if group is not None and group["contact"] else ""
    group_words = f" for {e(group['name'])}" if group is not None else ""
    who = (
        f"<p>Please contact the group's organiser{group_words}: <strong>{e(contact)}</strong>. "
        "They can send you a new link.</p>"
        if contact
        else "<p>Please ask the person who sent you the link (the group's organiser or "
        "facilitator) for a new one.</p>"
    )
    crisis = "".join(f"<li><strong>{e(label)}</strong>: {e(text)}</li>" for label, text in lines)
    return layout(
        f"{title} · huddle",
        f'<h1 data-problem="{e(kind)}">{e(title)}</h1>'
        f"<section><h2>What happened</h2><p>{e(what)}</p></section>"
        f"<section><h2>Who to contact</h2>{who}</section>"
        '<section class="crisis"><h2>If you need to talk to someone now</h2>'
        "<p>You do not have to wait for the group. These lines are free and open "
        f"now:</p><ul>{crisis}</ul>"
        "<p>If you are in danger right now, call your local emergency number.</p></section>",
    )
