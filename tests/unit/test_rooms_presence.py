"""Presence: a person counts once however many tabs they have open."""

from rooms.presence import RoomPresence

ALEX = {"id": "u1", "name": "Alex", "role": "member"}
BEA = {"id": "u2", "name": "Bea", "role": "member"}
SAM = {"id": "f1", "name": "Sam", "role": "facilitator"}
ZOE = {"id": "f2", "name": "Zoe", "role": "facilitator"}


def test_first_connection_joins_and_second_tab_does_not() -> None:
    presence = RoomPresence()
    assert presence.add(ALEX, "tab-1") is True
    assert presence.add(ALEX, "tab-2") is False
    assert len(presence) == 1
    assert presence.members() == [ALEX]


def test_only_the_last_tab_closing_leaves() -> None:
    presence = RoomPresence()
    presence.add(ALEX, "tab-1")
    presence.add(ALEX, "tab-2")
    assert presence.remove("u1", "tab-1") is False
    assert presence.members() == [ALEX]
    assert presence.remove("u1", "tab-2") is True
    assert presence.members() == []
    assert len(presence) == 0


def test_rejoining_after_leaving_counts_as_first_again() -> None:
    presence = RoomPresence()
    presence.add(ALEX, "tab-1")
    presence.remove("u1", "tab-1")
    assert presence.add(ALEX, "tab-3") is True


def test_adding_the_same_connection_twice_keeps_one_connection() -> None:
    presence = RoomPresence()
    assert presence.add(ALEX, "tab-1") is True
    assert presence.add(ALEX, "tab-1") is False
    assert presence.remove("u1", "tab-1") is True


def test_removing_an_unknown_connection_or_user_returns_false() -> None:
    presence = RoomPresence()
    assert presence.remove("u1", "tab-1") is False
    presence.add(ALEX, "tab-1")
    assert presence.remove("u1", "tab-9") is False
    assert presence.remove("u2", "tab-1") is False
    assert presence.members() == [ALEX]
    # Removing twice: the second call is not a second "left".
    assert presence.remove("u1", "tab-1") is True
    assert presence.remove("u1", "tab-1") is False


def test_members_list_facilitators_first_then_by_name() -> None:
    presence = RoomPresence()
    for i, user in enumerate([BEA, ZOE, ALEX, SAM]):
        presence.add(user, f"c{i}")
    assert [m["name"] for m in presence.members()] == ["Sam", "Zoe", "Alex", "Bea"]
    assert len(presence) == 4


def test_other_users_are_independent() -> None:
    presence = RoomPresence()
    presence.add(ALEX, "a")
    assert presence.add(BEA, "b") is True
    assert presence.remove("u1", "a") is True
    assert presence.members() == [BEA]
