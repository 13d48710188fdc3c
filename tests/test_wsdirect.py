"""Direct websocket writes: the frames are right, and live connections really use them."""

from __future__ import annotations

import struct

from chatserver import wsdirect
from chatserver.app import SIO_KEY
from tests.conftest import Connect, Server


def test_frames_are_unmasked_final_frames_of_the_right_length() -> None:
    assert wsdirect.frame("4hi") == b"\x81\x034hi"
    medium = "x" * 300
    assert wsdirect.frame(medium)[:4] == b"\x81\x7e" + struct.pack("!H", 300)
    large = "y" * 70_000
    assert wsdirect.frame(large)[:10] == b"\x81\x7f" + struct.pack("!Q", 70_000)
    assert wsdirect.frame(b"\x00\x01")[:2] == b"\x82\x02"
    assert wsdirect.frame("é") == b"\x81\x02" + "é".encode()


async def test_websocket_connections_take_the_direct_path(server: Server, connect: Connect) -> None:
    alex = await connect("alex")
    await alex.call("join", {"room": "r1"})
    await alex.send("r1", "hello")
    await alex.wait_for("message")
    assert wsdirect.ENABLED
    sockets = list(server.app[SIO_KEY].eio.sockets.values())
    assert len(sockets) == 1
    assert wsdirect.direct_transport(sockets[0]) is not None
