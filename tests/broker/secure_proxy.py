"""A TLS and SASL front for the embedded broker, which has neither in this build.

It speaks the server side of what a secured Kafka cluster asks of a client: a TLS
handshake with a certificate from a test CA, then Kafka's SaslHandshake and
SaslAuthenticate requests for PLAIN or SCRAM-SHA-256/512 (RFC 5802, checked for real with
each user's password). Any other request before authentication closes the connection, as
a broker does. After authentication the bytes are piped to the real broker, which
advertises this proxy's address so that every connection comes back through it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka.protocol.admin import (
    SaslAuthenticateResponse_v0,
    SaslAuthenticateResponse_v1,
    SaslHandShakeResponse_v1,
)

SASL_HANDSHAKE, SASL_AUTHENTICATE, API_VERSIONS = 17, 36, 18
SASL_AUTHENTICATION_FAILED = 58
HASHES = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}


@dataclass
class SecureProxy:
    upstream: tuple[str, int]
    port: int
    tls: ssl.SSLContext | None = None
    users: dict[str, str] | None = None  # None: no SASL
    refused: list[str] = field(default_factory=list)  # why connections were closed
    authenticated: list[tuple[str, str]] = field(default_factory=list)  # (user, mechanism)

    def __enter__(self) -> SecureProxy:
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        threading.Thread(target=self._run, args=(started,), daemon=True).start()
        started.wait(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.tls)
        )
        started.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        self._server.close()
        connections = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(*self.upstream)
        try:
            if self.users is not None and not await self._authenticate(
                client_r, client_w, broker_r, broker_w
            ):
                return
            await asyncio.gather(_pipe(client_r, broker_w), _pipe(broker_r, client_w))
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            client_w.close()
            broker_w.close()

    async def _authenticate(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        broker_r: asyncio.StreamReader,
        broker_w: asyncio.StreamWriter,
    ) -> bool:
        mechanism: str | None = None
        scram: ScramServer | None = None
        while True:
            frame = await _read_frame(client_r)
            api_key, version, correlation = struct.unpack(">hhi", frame[:8])
            body = _request_body(frame)
            if api_key == API_VERSIONS:
                broker_w.write(_framed(frame))
                client_w.write(_framed(await _read_frame(broker_r)))
            elif api_key == SASL_HANDSHAKE:
                mechanism = _string(body)
                offered = ["PLAIN", *HASHES]
                error = 0 if mechanism in offered else 33  # UNSUPPORTED_SASL_MECHANISM
                reply = SaslHandShakeResponse_v1(error, offered).encode()
                client_w.write(_framed(struct.pack(">i", correlation) + reply))
            elif api_key == SASL_AUTHENTICATE and mechanism is not None:
                token = _bytes(body)
                if mechanism == "PLAIN":
                    outcome = self._plain(token)
                else:
                    scram = scram or ScramServer(mechanism, self.users or {})
                    outcome = scram.step(token)
                answer, done, failure = outcome
                response = SaslAuthenticateResponse_v1 if version >= 1 else None
                values: tuple[object, ...] = (
                    SASL_AUTHENTICATION_FAILED if failure else 0,
                    failure,
                    answer,
                )
                if response is not None:
                    reply = response(*values, 0).encode()
                else:
                    reply = SaslAuthenticateResponse_v0(*values).encode()
                client_w.write(_framed(struct.pack(">i", correlation) + reply))
                await client_w.drain()
                if failure:
                    self.refused.append(failure)
                    return False
                if done:
                    user = scram.user if scram else token.split(b"\0")[1].decode()
                    self.authenticated.append((user, mechanism))
                    return True
            else:
                self.refused.append(f"request {api_key} before authentication")
                return False
            await client_w.drain()

    def _plain(self, token: bytes) -> tuple[bytes, bool, str | None]:
        _, user, password = token.split(b"\0")
        if (self.users or {}).get(user.decode()) != password.decode():
            return b"", True, f"PLAIN authentication failed for {user.decode()}"
        return b"", True, None


class ScramServer:
    """The server side of one SCRAM exchange (RFC 5802) for a user's plain password."""

    def __init__(self, mechanism: str, users: dict[str, str]) -> None:
        self.hash: Callable[..., hashlib._Hash] = HASHES[mechanism]
        self.users = users
        self.user = ""
        self.salt = os.urandom(16)
        self.iterations = 4096

    def step(self, token: bytes) -> tuple[bytes, bool, str | None]:
        message = token.decode()
        if message.startswith("n,,"):
            return self._first(message[3:])
        return self._final(message)

    def _first(self, bare: str) -> tuple[bytes, bool, str | None]:
        fields = dict(part.split("=", 1) for part in bare.split(","))
        self.user, self.client_first_bare = fields["n"], bare
        self.nonce = fields["r"] + base64.b64encode(os.urandom(18)).decode()
        salt = base64.b64encode(self.salt).decode()
        self.server_first = f"r={self.nonce},s={salt},i={self.iterations}"
        return self.server_first.encode(), False, None

    def _final(self, message: str) -> tuple[bytes, bool, str | None]:
        without_proof, _, proof = message.rpartition(",p=")
        password = self.users.get(self.user)
        if password is None:
            return b"", True, f"SCRAM: unknown user {self.user}"
        salted = hashlib.pbkdf2_hmac(
            self.hash().name, password.encode(), self.salt, self.iterations
        )
        auth = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        client_key = self._hmac(salted, b"Client Key")
        signature = self._hmac(self.hash(client_key).digest(), auth)
        expected = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        if not hmac.compare_digest(expected, base64.b64decode(proof)):
            return b"", True, f"SCRAM authentication failed for {self.user}"
        server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth)
        return b"v=" + base64.b64encode(server_signature), True, None

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self.hash).digest()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while chunk := await source.read(65536):
        sink.write(chunk)
        await sink.drain()
    sink.close()


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


def _framed(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def _request_body(frame: bytes) -> bytes:
    """The request after header v1 (api key, version, correlation id, client id)."""
    (client_id_length,) = struct.unpack(">h", frame[8:10])
    return frame[10 + max(client_id_length, 0) :]


def _string(body: bytes) -> str:
    (length,) = struct.unpack(">h", body[:2])
    return body[2 : 2 + length].decode()


def _bytes(body: bytes) -> bytes:
    (length,) = struct.unpack(">i", body[:4])
    return body[4 : 4 + length]
