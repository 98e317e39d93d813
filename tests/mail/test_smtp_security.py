"""SMTP with STARTTLS or implicit TLS and authentication, against a real aiosmtpd
server holding a certificate made for the test (trusted through smtp.ca_file)."""

from __future__ import annotations

import ssl
import subprocess
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from servers import free_port

from bot.mail.transports import SmtpTransport, TemporaryFailure


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return key, cert


class Sink:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((session.authenticated, envelope.rcpt_tos))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"bot", b"s3cret")
    return AuthResult(success=ok)


pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS is TLS


@pytest.fixture(params=["starttls", "tls"])
def server(request, certificate):
    key, cert = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = Sink()
    port = free_port()
    if request.param == "starttls":
        controller = Controller(sink, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                                authenticator=authenticator, auth_require_tls=True, auth_required=True)
    else:
        controller = Controller(sink, hostname="127.0.0.1", port=port, ssl_context=context,
                                authenticator=authenticator, auth_require_tls=False, auth_required=True)
    controller.start()
    yield request.param, port, sink, cert
    controller.stop()


def message() -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "cite-educative@lievin.fr", "p@example.org", "[CE-2026-0001] Test"
    msg.set_content("Bonjour")
    return bytes(msg)


def test_mail_goes_through_an_encrypted_authenticated_connection(server):
    security, port, sink, cert = server
    transport = SmtpTransport("127.0.0.1", port, security, "bot", "s3cret", timeout=5, ca_file=cert)
    with transport.connect() as connection:
        connection.send(message(), "cite-educative@lievin.fr", ["p@example.org"])
    assert sink.received == [(True, ["p@example.org"])]


def test_an_untrusted_certificate_is_refused(server):
    security, port, sink, _ = server
    transport = SmtpTransport("127.0.0.1", port, security, "bot", "s3cret", timeout=5)  # system CAs only
    with pytest.raises(TemporaryFailure):
        with transport.connect():
            pass
    assert sink.received == []


def test_a_wrong_password_is_a_failure_to_retry_not_a_crash(server):
    security, port, sink, cert = server
    # smtplib tries each AUTH mechanism in turn; a short timeout keeps the test quick.
    transport = SmtpTransport("127.0.0.1", port, security, "bot", "faux", timeout=1, ca_file=cert)
    with pytest.raises(TemporaryFailure):
        with transport.connect():
            pass
    assert sink.received == []
