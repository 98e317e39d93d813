"""The test servers themselves: a real Dovecot and a real aiosmtpd sink behave as the
integration tests expect."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient
from imapclient.imapclient import SocketTimeout

RAW = (
    b"From: Coordinatrice <coord@example.org>\r\n"
    b"To: citebot@example.org\r\n"
    b"Subject: Fiche projet\r\n"
    b"Message-ID: <fiche-1@example.org>\r\n"
    b"\r\n"
    b"Bonjour, voici la fiche.\r\n"
)


def connect(account) -> IMAPClient:
    c = IMAPClient(account.host, port=account.port, ssl=False, timeout=SocketTimeout(connect=5, read=5))
    c.login(account.user, account.password)
    return c


# ----------------------------------------------------------------------------- IMAP


def test_append_then_peek_leaves_seen_unset(dovecot, imap_user):
    uid = dovecot.append(imap_user.user, RAW)

    c = connect(imap_user)
    try:
        c.select_folder("INBOX")  # read-write, as the bot does
        data = c.fetch([uid], ["BODY.PEEK[]", "FLAGS"])
        assert data[uid][b"BODY[]"] == RAW
        assert b"\\Seen" not in data[uid][b"FLAGS"]
    finally:
        c.logout()

    [message] = dovecot.messages(imap_user.user)
    assert message["uid"] == uid
    assert message["raw"] == RAW
    assert "\\Seen" not in message["flags"]


def test_append_with_flags_and_messages_never_sets_seen(dovecot, imap_user):
    read = dovecot.append(imap_user.user, RAW, flags=["\\Seen"])
    unread = dovecot.append(imap_user.user, RAW.replace(b"fiche-1", b"fiche-2"))
    assert unread > read
    for _ in range(2):  # reading twice must not change anything
        flags = {m["uid"]: m["flags"] for m in dovecot.messages(imap_user.user)}
        assert flags == {read: {"\\Seen"}, unread: set()}


def test_custom_keyword_is_seen_by_messages(dovecot, imap_user):
    uid = dovecot.append(imap_user.user, RAW)
    c = connect(imap_user)
    try:
        c.select_folder("INBOX")
        c.add_flags([uid], [b"$CitebotDone"])
    finally:
        c.logout()
    [message] = dovecot.messages(imap_user.user)
    assert message["flags"] == {"$CitebotDone"}


def test_uidvalidity_is_stable_and_folders_are_separate(dovecot, imap_user):
    first = dovecot.uidvalidity(imap_user.user)
    dovecot.append(imap_user.user, RAW)
    dovecot.create_folder(imap_user.user, "Traitees")
    uid = dovecot.append(imap_user.user, RAW, folder="Traitees")
    assert dovecot.uidvalidity(imap_user.user) == first
    assert dovecot.uidvalidity(imap_user.user, "Traitees") > 0
    assert [m["uid"] for m in dovecot.messages(imap_user.user, "Traitees")] == [uid]
    assert len(dovecot.messages(imap_user.user)) == 1


def test_users_added_while_running_can_log_in_and_are_isolated(dovecot, imap_user):
    dovecot.append(imap_user.user, RAW)
    other = dovecot.add_user(imap_user.user + "-late", "first-password")
    assert dovecot.messages(other.user) == []
    # A changed password of the same length is noticed at once too.
    other = dovecot.add_user(other.user, "other-password")
    connect(other).logout()


def test_move_and_uidplus_are_advertised(imap_user):
    c = connect(imap_user)
    try:
        caps = c.capabilities()
    finally:
        c.logout()
    assert b"MOVE" in caps and b"UIDPLUS" in caps


def test_wrong_password_is_refused(imap_user):
    from imapclient.exceptions import LoginError

    c = IMAPClient(imap_user.host, port=imap_user.port, ssl=False, timeout=SocketTimeout(connect=5, read=5))
    with pytest.raises(LoginError):
        c.login(imap_user.user, "wrong")
    c.shutdown()


# ----------------------------------------------------------------------------- SMTP


def make_mail(subject: str = "Accusé de réception") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "citebot@example.org"
    msg["To"] = "coord@example.org"
    msg["Subject"] = subject
    msg.set_content("Votre fiche a bien été reçue.\n")
    return msg


def send(sink, msg: EmailMessage) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as s:
        s.send_message(msg)


def test_sink_receives_a_message(smtp_sink):
    send(smtp_sink, make_mail())
    [received] = smtp_sink.wait_for(1)
    assert received.mail_from == "citebot@example.org"
    assert received.rcpt_tos == ["coord@example.org"]
    assert received.message()["Subject"] == "Accusé de réception"
    assert "bien été reçue" in received.message().get_content()


def test_sink_451_then_250(smtp_sink):
    smtp_sink.respond_with(["451 4.3.0 Try again later"])
    with pytest.raises(smtplib.SMTPResponseException) as error:
        send(smtp_sink, make_mail())
    assert isinstance(error.value, smtplib.SMTPDataError)
    assert error.value.smtp_code == 451
    assert smtp_sink.received == []
    assert [reply for _, reply in smtp_sink.rejected] == ["451 4.3.0 Try again later"]

    send(smtp_sink, make_mail())
    assert len(smtp_sink.wait_for(1)) == 1


def test_sink_550_always(smtp_sink):
    smtp_sink.always("550 5.1.1 No such user")
    for _ in range(3):
        with pytest.raises(smtplib.SMTPDataError) as error:
            send(smtp_sink, make_mail())
        assert error.value.smtp_code == 550
    assert smtp_sink.received == []
    smtp_sink.reset()
    send(smtp_sink, make_mail())
    assert len(smtp_sink.wait_for(1)) == 1


def test_sink_starts_empty_in_each_test(smtp_sink):
    assert smtp_sink.received == [] and smtp_sink.rejected == []
    with pytest.raises(TimeoutError):
        smtp_sink.wait_for(1, timeout=0.05)
