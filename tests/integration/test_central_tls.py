"""HTTPS to the central: the client verifies with a CA file and refuses anything below TLS 1.2."""

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from central_client.client import tls_context
from tests.servers import free_port


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def serve_tls(
    cert: Path, key: Path, max_version: ssl.TLSVersion
) -> tuple[web.AppRunner, int]:
    """A one-route HTTPS server capped at `max_version`; returns its runner and port."""

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = max_version
    context.set_ciphers("ALL:@SECLEVEL=0")  # let the old protocol through on the server side
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    return runner, port


async def fetch(port: int, context: ssl.SSLContext) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"https://127.0.0.1:{port}/", ssl=context) as response,
    ):
        return response.status


def test_client_context_refuses_old_tls() -> None:
    assert tls_context(None).minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls_context(None).verify_mode == ssl.CERT_REQUIRED


async def test_https_with_ca_file(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    runner, port = await serve_tls(cert, key, ssl.TLSVersion.TLSv1_3)
    try:
        assert await fetch(port, tls_context(str(cert))) == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await fetch(port, tls_context(None))  # not signed by a trusted CA: refused
    finally:
        await runner.cleanup()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_tls_1_1_server_is_refused(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    runner, port = await serve_tls(cert, key, ssl.TLSVersion.TLSv1_1)
    try:
        with pytest.raises(aiohttp.ClientConnectorError):
            await fetch(port, tls_context(str(cert)))
    finally:
        await runner.cleanup()
