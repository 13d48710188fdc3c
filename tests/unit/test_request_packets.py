"""A client's usual request is read by huddle's shortcut exactly as python-socketio's
decoder (huddle's ``CheckedPacket``) reads it: the same ack id and arguments, the same
refusal of what no handler can be called with; anything unusual is left to the decoder."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.transport.gate import CheckedPacket
from chatserver.transport.requests import _plain_event

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
_PREFIX = st.sampled_from(["2", "21", "2007", "2/", "2/chat,", "21-", "20-", "3", "", "2٣", "2²"])


def _decoded(data: str) -> object:
    try:
        pkt = CheckedPacket(encoded_packet=data)
    except Exception as exc:  # what the dispatch raises on: the gate refuses the packet
        return type(exc)
    return pkt.packet_type, pkt.namespace, pkt.id, pkt.data


@settings(max_examples=400)
@given(_PREFIX, st.lists(_JSON, max_size=3) | _JSON, st.text(max_size=4))
def test_the_shortcut_reads_what_the_decoder_reads(prefix: str, body: Any, tail: str) -> None:
    for data in (prefix + json.dumps(body), prefix + json.dumps(body) + tail, prefix + tail):
        try:
            plain = _plain_event(data)
        except ValueError:
            assert _decoded(data) in (ValueError, json.JSONDecodeError), data
            continue
        if plain is not None:
            assert _decoded(data) == (2, None, *plain), data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('2["message",{"room":"r"}]', (None, ["message", {"room": "r"}])),
        ('217["join",{"room":"r"}]', (17, ["join", {"room": "r"}])),
        ('2/chat,1["join"]', None),  # another namespace: python-socketio's
        ('21-1["join",{"_placeholder":true,"num":0}]', None),  # an attachment
        ("2" + "1" * 16 + '["join"]', None),  # a long id: the decoder says what it makes of it
    ],
)
def test_usual_and_unusual_requests(data: str, expected: object) -> None:
    assert _plain_event(data) == expected


@pytest.mark.parametrize("data", ['2[{"room":"r"}]', "2[]", '21[1,"x"]', "2[", '2["x"'])
def test_what_no_handler_can_be_called_with_is_refused_as_before(data: str) -> None:
    with pytest.raises(ValueError):
        _plain_event(data)
    with pytest.raises(ValueError):
        CheckedPacket(encoded_packet=data)
