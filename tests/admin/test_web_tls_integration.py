"""The worker's web port over TLS: HTTPS only, the CLI's client verifies it, the console's
cookie is Secure, /metrics guarded when asked; and a plain port bound beyond loopback is
warned about."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest
import trustme
from pydantic import SecretStr

from tests.conftest import free_port
from traitflow.admin.client import AdminClient
from traitflow.admin.guard import SESSION_COOKIE
from traitflow.config import Settings
from traitflow.httpedge import plaintext_warning
from traitflow.worker.process import start_worker, stop_process

TOKEN = "a-token-for-the-tls-test"


def test_a_plain_web_port_beyond_loopback_is_warned_about() -> None:
    assert plaintext_warning(Settings()) is None
    warning = plaintext_warning(Settings(web_host="0.0.0.0"))
    assert warning is not None and "without TLS" in warning and "TRAITFLOW_WEB_TLS" in warning
    assert plaintext_warning(Settings(web_host="0.0.0.0", web_tls_certfile=Path("c"))) is None


@pytest.mark.integration
async def test_the_web_port_serves_https_and_clients_verify_it(
    settings: Settings, tmp_path: Path
) -> None:
    ca = trustme.CA()
    cert, key, ca_file = tmp_path / "web.pem", tmp_path / "web.key", tmp_path / "ca.pem"
    issued = ca.issue_cert("127.0.0.1", "localhost")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    secured = settings.model_copy(update={
        "web_port": free_port(), "admin_token": SecretStr(TOKEN), "web_tls_certfile": cert,
        "web_tls_keyfile": key, "web_tls_cafile": ca_file, "metrics_require_token": True,
    })  # fmt: skip
    log = tmp_path / "worker.log"
    worker = start_worker(secured, log)
    base = f"https://127.0.0.1:{secured.web_port}"
    trusted = ssl.create_default_context(cafile=str(ca_file))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusted)) as http:
            for _ in range(180):
                try:
                    async with http.get(base + "/readyz") as answer:
                        if answer.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.5)
            else:
                raise AssertionError(log.read_text()[-3000:])
            async with http.get(base + "/metrics") as answer:  # guarded, as asked
                assert answer.status == 401
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            async with http.get(base + "/metrics", headers=bearer) as answer:
                assert answer.status == 200 and "traitflow_" in await answer.text()
            async with http.post(base + "/console/session", json={"token": TOKEN}) as answer:
                assert answer.status == 200
                cookie = answer.headers["Set-Cookie"]
                assert cookie.startswith(SESSION_COOKIE) and "Secure" in cookie, cookie
        with pytest.raises(aiohttp.ClientError):  # plain HTTP gets no answer
            async with aiohttp.ClientSession() as plain:
                await plain.get(f"http://127.0.0.1:{secured.web_port}/readyz")
        with pytest.raises(aiohttp.ClientConnectorCertificateError):  # nor an unknown CA
            async with aiohttp.ClientSession() as untrusting:
                await untrusting.get(base + "/readyz")
        async with AdminClient(secured, token=TOKEN) as admin:  # the CLI's client: https
            assert (await admin.segments())["segments"] == []
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]
