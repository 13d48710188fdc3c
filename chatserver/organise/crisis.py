"""Crisis lines by locale: what the pages a member may land on in distress show (an
invitation that has expired, a place that has ended). A group's ``crisis_locale`` picks
the list; an unknown locale gets the lines of the deployment's moderation policy."""

from __future__ import annotations

from typing import Final

CRISIS_LINES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "en-GB": (
        ("Samaritans", "call 116 123, free, any time"),
        ("Shout", "text SHOUT to 85258"),
        ("NHS 111", "call 111 for urgent help; 999 in an emergency"),
    ),
    "en-IE": (
        ("Samaritans", "call 116 123, free, any time"),
        ("Text About It", "text HELLO to 50808"),
        ("Emergency", "call 112 or 999"),
    ),
    "en-US": (
        ("988 Suicide & Crisis Lifeline", "call or text 988"),
        ("Crisis Text Line", "text HOME to 741741"),
        ("Emergency", "call 911"),
    ),
    "en-CA": (
        ("9-8-8 Suicide Crisis Helpline", "call or text 988"),
        ("Emergency", "call 911"),
    ),
    "en-AU": (
        ("Lifeline", "call 13 11 14 or text 0477 13 11 14"),
        ("Emergency", "call 000"),
    ),
    "en-NZ": (
        ("Need to talk?", "call or text 1737"),
        ("Emergency", "call 111"),
    ),
}

LOCALES: Final = tuple(CRISIS_LINES)


def crisis_lines(locale: str, fallback: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return CRISIS_LINES.get(locale, fallback)
