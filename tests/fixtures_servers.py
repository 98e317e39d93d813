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
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

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
