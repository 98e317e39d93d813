"""pytest plugin: real IMAP (Dovecot) and SMTP (aiosmtpd) servers for integration tests.

Enabled from tests/conftest.py with ``pytest_plugins = ["fixtures_servers"]``.

- ``dovecot``: one Dovecot for the whole session (ready in well under a second). When
  Dovecot is not installed the tests that use it are skipped, except under CI=true where
  they fail: CI must not go green by skipping the IMAP tests.
- ``imap_user``: a fresh user on that server for each test (an ``ImapAccount`` with
  host, port, user, password), so tests never see each other's mail.
- ``dovecot_tls``: another Dovecot for the session, ``ssl = required``: implicit TLS on
  ``tls_port``, STARTTLS required before login on ``port``, a self-signed certificate
  made at start (``ca_file``). Same skip / CI rules as ``dovecot``.
- ``smtp_sink``: one SMTP sink for the session, reset before and after each test.
- ``oauth_server``: the local token and introspection server (tests/oauth_server.py);
  ``dovecot_oauth``: a Dovecot that also takes SASL XOAUTH2, checked there;
  ``smtp_oauth``: an SMTP sink that requires AUTH XOAUTH2 with its tokens.
- ``dovecot_noidle``: a Dovecot that does not offer IDLE.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from oauth_server import OAuthServer
from servers import DOVECOT_BIN, NO_DOVECOT_ENV, Dovecot, ImapAccount, SmtpSink, dovecot_available


def _require_dovecot() -> None:
    if dovecot_available():
        return
    hidden = " (hidden by {}=1)".format(NO_DOVECOT_ENV) if os.environ.get(NO_DOVECOT_ENV) else ""
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"Dovecot is required in CI but {DOVECOT_BIN} is missing{hidden}: `make test` installs "
            "the Debian package dovecot-imapd when run as root.",
            pytrace=False,
        )
    pytest.skip(
        f"Dovecot is not installed{hidden}: `make test` installs it (apt package dovecot-imapd, as root)"
    )


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A running Dovecot shared by the whole session; use ``imap_user`` for a mailbox."""
    _require_dovecot()
    server = Dovecot().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[Dovecot]:
    """A running TLS-only Dovecot shared by the session (``dovecot_tls.new_account()``)."""
    _require_dovecot()
    server = Dovecot(tls=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def imap_user(dovecot: Dovecot) -> ImapAccount:
    """A new user (unique name, random password) on the session's Dovecot."""
    return dovecot.new_account()


@pytest.fixture(scope="session")
def _smtp_sink_server() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_sink(_smtp_sink_server: SmtpSink) -> Iterator[SmtpSink]:
    """The session's SMTP sink, empty and accepting everything at the start of the test."""
    _smtp_sink_server.reset()
    yield _smtp_sink_server
    _smtp_sink_server.reset()


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[OAuthServer]:
    server = OAuthServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot_oauth(oauth_server: OAuthServer) -> Iterator[Dovecot]:
    """A Dovecot whose XOAUTH2 logins are checked by ``oauth_server``'s introspection."""
    _require_dovecot()
    server = Dovecot(introspection_url=oauth_server.introspection_url).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _smtp_oauth_server(oauth_server: OAuthServer) -> Iterator[SmtpSink]:
    sink = SmtpSink(tokens=oauth_server).start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_oauth(_smtp_oauth_server: SmtpSink) -> Iterator[SmtpSink]:
    """An SMTP sink requiring AUTH XOAUTH2 with a live token of ``oauth_server``."""
    _smtp_oauth_server.reset()
    _smtp_oauth_server.logins.clear()
    yield _smtp_oauth_server
    _smtp_oauth_server.reset()


@pytest.fixture(scope="session")
def dovecot_noidle() -> Iterator[Dovecot]:
    """A Dovecot that does not announce IDLE (imap_capability without it)."""
    _require_dovecot()
    server = Dovecot(idle=False).start()
    try:
        yield server
    finally:
        server.stop()
