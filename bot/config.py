"""The configuration file (TOML): lookup, validation, secrets.

The keys are described once, as data (`SCHEMA`: per section, key -> expected
type, required or not, default, allowed values, extra check). `load_config`
reads the file, checks every key against that table, resolves the secrets and
the relative paths, and returns frozen dataclasses. Any problem raises a
`ConfigError` whose text is one French line naming the file and the key; a
secret never appears in it, nor in the repr() of the configuration.

Contract: shared/spec/config.md (keys) and shared/spec/cli.md (lookup order).
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import json
import os
import re
import stat
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

ENV_VAR = "CITEBOT_CONFIG"
DEFAULT_FILE = "config.toml"
EXAMPLE_FILE = "config.example.toml"

PORTEUR_TYPES = ("education_nationale", "service_ville", "association", "structure_partenaire", "secteur_prive")
SECURITIES = ("none", "starttls", "tls")
MODES = ("personnel", "dedie")  # [[mailbox]] mode (mailboxes.md)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_IMAP_PORTS = {"tls": 993, "starttls": 143, "none": 143}
_SMTP_PORTS = {"tls": 465, "starttls": 587, "none": 25}
_PASSWORD_KEYS = ("password", "password_env", "password_file")
_CLIENT_SECRET_KEYS = ("client_secret", "client_secret_env", "client_secret_file")
OAUTH2_PROVIDERS = ("microsoft", "google", "command")


# --------------------------------------------------------------------------- errors


class ConfigError(Exception):
    """A configuration that cannot be used. str() is one French line naming the file and the key."""

    def __init__(self, file: str, text: str, key: str | None = None):
        self.file = file
        self.key = key
        self.text = _one_line(text)
        super().__init__(f"{file} : {self.text}")

    def __str__(self) -> str:
        return f"{self.file} : {self.text}"


class _Invalid(Exception):
    """Raised while checking; turned into a ConfigError once the file name is attached."""

    def __init__(self, key: str | None, text: str):
        self.key = key
        self.text = text
        super().__init__(text)


def _bad(key: str, message: str) -> _Invalid:
    return _Invalid(key, f"clé « {key} » : {message}")


def _os_reason(error: OSError) -> str:
    reasons = {
        errno.EACCES: "permission refusée",
        errno.EPERM: "opération non permise",
        errno.EISDIR: "c'est un dossier, pas un fichier",
        errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
        errno.ENOENT: "fichier introuvable",
    }
    return reasons.get(error.errno, error.strerror or type(error).__name__)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _toml(value: Any) -> str:
    """A value as the operator wrote it in TOML."""
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _show(value: Any) -> str:
    """A received value for a message about its type, shortened; never used for secrets."""
    if isinstance(value, dict):
        return "une table"
    return _q(_toml(value))


def _q(text: str) -> str:
    """A string in guillemets, on one line, shortened."""
    text = _one_line(text)
    return f"« {text[:57] + '…' if len(text) > 60 else text} »"


def _quoted(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"« {v} »" for v in values)


# --------------------------------------------------------------------------- value checks
# Each takes a value of the right type and returns None, or what is wrong (French).

_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}"
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAILBOX_NAME = re.compile(r"[A-Za-z0-9_-]+")
_PREFIX = re.compile(r"[A-Za-z0-9]{1,10}")
_IMAP_ATOM_SPECIALS = set('(){ %*"\\]')
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def _check_email(value: str) -> str | None:
    if _EMAIL.fullmatch(value) and len(value) <= 320:  # RFC 5321's limit, and the database's
        return None
    return f"{_q(value)} n'est pas une adresse électronique valide (attendu : nom@domaine.fr)"


def _check_emails(values: list[str]) -> str | None:
    for value in values:
        if problem := _check_email(value):
            return problem
    return None


def _check_mail_kinds(values: list[str]) -> str | None:
    from bot.paths import templates_dir

    known = sorted(p.name for p in templates_dir().iterdir() if (p / "subject.txt").is_file())
    unknown = [v for v in values if v not in known]
    if unknown:
        return f"type de courriel inconnu : {_quoted(unknown)} (types : {_quoted(known)})."
    return None


def _check_porteur_types(values: list[str]) -> str | None:
    for value in values:
        if value not in PORTEUR_TYPES:
            return f"{_q(value)} n'est pas un type de porteur connu ; types possibles : {_quoted(PORTEUR_TYPES)}"
    return None


def _check_timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"fuseau horaire {_q(value)} inconnu (exemple : « Europe/Paris »)"
    return None


def _check_prefix(value: str) -> str | None:
    if _PREFIX.fullmatch(value):
        return None
    return f"{_q(value)} ne convient pas : de 1 à 10 lettres ou chiffres sans accent, par exemple « CE »"


# An authserv-id as receiving servers write it first in Authentication-Results: one word, e.g. a host name.
_AUTHSERV_ID = re.compile(r"[^\s;()\"\\]{1,255}")


def _check_authserv_id(value: str) -> str | None:
    if value == "" or _AUTHSERV_ID.fullmatch(value):
        return None
    return (f"{_q(value)} n'est pas un identifiant de serveur : un seul mot, sans espace ni « ; », "
            "comme le premier mot des en-têtes Authentication-Results de vos messages reçus "
            "(par exemple « mx.ac-lille.fr »)")


def _check_mailbox_name(value: str) -> str | None:
    if _MAILBOX_NAME.fullmatch(value) and len(value) <= 100:  # the database keeps 100 characters
        return None
    return f"{_q(value)} ne convient pas : 100 lettres sans accent, chiffres, « _ » ou « - » au plus"


def _check_env_name(value: str) -> str | None:
    # The value is not shown: a password typed here by mistake must not be printed.
    if _ENV_NAME.fullmatch(value):
        return None
    return (
        "le nom d'une variable d'environnement est attendu "
        "(lettres, chiffres et « _ », par exemple « CITEBOT_SMTP_PASSWORD »)"
    )


def _check_keyword(value: str) -> str | None:
    if value.startswith("\\") or any(c in _IMAP_ATOM_SPECIALS or ord(c) < 33 or ord(c) > 126 for c in value):
        return (
            f"{_q(value)} ne convient pas comme mot-clé IMAP "
            "(pas d'espace, de parenthèse ni de « \\ » initial ; exemple : « $CitebotDone »)"
        )
    return None


def _check_port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"un numéro de port entre 1 et 65535 est attendu (reçu {_show(value)})"


def _at_least(minimum: int) -> Callable[[Any], str | None]:
    def check(value: int | float) -> str | None:
        return None if value >= minimum else f"une valeur d'au moins {minimum} est attendue (reçu {_show(value)})"

    return check


def _check_positive(value: int | float) -> str | None:
    if 0 < value < float("inf"):
        return None
    return f"une durée positive et finie, en secondes, est attendue (reçu {_show(value)})"


# --------------------------------------------------------------------------- schedule strings


@dataclass(frozen=True)
class When:
    """A parsed schedule string: "mon-fri 07:45" or "08:30".

    `day_of_week` is the day spec as written (lower case), suitable for
    APScheduler's CronTrigger(day_of_week=...), or None for every day;
    `days` the same as weekday numbers (0 = Monday).
    """

    day_of_week: str | None
    days: tuple[int, ...]
    hour: int
    minute: int


def parse_when(text: str, days_allowed: bool = True) -> When:
    """Parse "[days ]HH:MM". Days: three-letter English names, ranges and comma lists (mon-fri, sat,sun).

    Raises ValueError with a French message.
    """
    parts = text.strip().lower().split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and not days_allowed):
        if days_allowed:
            raise ValueError("le format attendu est « HH:MM » ou « jours HH:MM », par exemple « mon-fri 07:45 »")
        raise ValueError("le format attendu est une heure seule, « HH:MM », par exemple « 08:30 »")
    match = _TIME.fullmatch(parts[-1])
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"heure {_q(parts[-1])} invalide : le format « HH:MM » est attendu, de 00:00 à 23:59")
    hour, minute = int(match[1]), int(match[2])
    if len(parts) == 1:
        return When(None, tuple(range(7)), hour, minute)
    spec = parts[0]
    days: set[int] = set()
    for item in spec.split(","):
        first, dash, last = item.partition("-")
        if first not in WEEKDAYS or (dash and last not in WEEKDAYS):
            raise ValueError(
                f"jours {_q(spec)} invalides : noms anglais de trois lettres ({', '.join(WEEKDAYS)}), "
                "intervalles (mon-fri) ou listes (mon,wed,fri)"
            )
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last if dash else first)
        if start > end:
            raise ValueError(
                f"intervalle de jours {_q(item)} à l'envers : écrivez le premier jour avant le dernier (mon-fri)"
            )
        days.update(range(start, end + 1))
    return When(spec, tuple(sorted(days)), hour, minute)


def _check_when(value: str) -> str | None:
    try:
        parse_when(value)
    except ValueError as error:
        return str(error)
    return None


def _check_daily_time(value: str) -> str | None:
    try:
        parse_when(value, days_allowed=False)
    except ValueError as error:
        return str(error)
    return None


# --------------------------------------------------------------------------- the schema, as data

STR, INT, NUMBER, STR_LIST, PATH, DATE, BOOL = "str", "int", "number", "str_list", "path", "date", "bool"

_TYPE_NAMES = {
    STR: "une chaîne de caractères est attendue",
    PATH: "un chemin (chaîne de caractères) est attendu",
    INT: "un nombre entier est attendu",
    NUMBER: "un nombre est attendu",
    STR_LIST: "une liste de chaînes de caractères est attendue",
    DATE: "une date AAAA-MM-JJ est attendue",
    BOOL: "true ou false est attendu",
}


@dataclass(frozen=True)
class Key:
    type: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None
    needed_if: tuple[str, str] | None = None  # (other key, value): required when that key has that value
    allow_empty: bool = False  # for strings and lists
    secret: bool = False  # never shown in a message
    credential: bool = False  # a path that may start with %d/ (see _credential_file)


@dataclass(frozen=True)
class Section:
    keys: dict[str, Key]
    required: bool = True
    array: bool = False  # [[name]] rather than [name]


_SECRET_KEYS = {
    "password": Key(STR, secret=True),
    "password_env": Key(STR, check=_check_env_name),
    "password_file": Key(PATH, credential=True),
}

SCHEMA: dict[str, Section] = {
    "bot": Section({
        "name": Key(STR, required=True),
        "address": Key(STR, required=True, check=_check_email),
        "reference_prefix": Key(STR, default="CE", check=_check_prefix),
        "timezone": Key(STR, default="Europe/Paris", check=_check_timezone),
        "data_dir": Key(PATH, default="var"),
        "database_url": Key(STR),  # default: sqlite:///<data_dir>/citebot.sqlite3
        # Our receiving server's Authentication-Results id: replies count only when it says
        # dkim=pass or dmarc=pass (security.md, "Opinions and commands"). Also read under its old
        # name, avis.authserv_id.
        "authserv_id": Key(STR, default="", allow_empty=True, check=_check_authserv_id),
    }),
    "smtp": Section({
        "transport": Key(STR, required=True, choices=("smtp", "maildir")),
        "host": Key(STR, needed_if=("transport", "smtp")),
        "port": Key(INT, check=_check_port),  # default from security
        "security": Key(STR, default="starttls", choices=SECURITIES),
        "username": Key(STR),
        **_SECRET_KEYS,
        "oauth2": Key(STR),  # an [[oauth2]] block's name: XOAUTH2 instead of a password (mailboxes.md)
        "path": Key(PATH, needed_if=("transport", "maildir")),
        "timeout": Key(NUMBER, default=30, check=_check_positive),
        "ca_file": Key(PATH),  # the CA to trust instead of the system ones (a server with a private CA)
    }),
    "mailbox": Section(array=True, keys={
        "name": Key(STR, required=True, check=_check_mailbox_name),
        "address": Key(STR, required=True, check=_check_email),
        # "personnel": someone's own inbox, only mail about the call is handled;
        # "dedie": an address for the call only, every human is answered (mailboxes.md).
        "mode": Key(STR, default="personnel", choices=MODES),
        "since": Key(DATE),  # default: seven days before the first poll, recorded once
        "kind": Key(STR, required=True, choices=("imap", "maildir")),
        "host": Key(STR, needed_if=("kind", "imap")),
        "port": Key(INT, check=_check_port),  # default from security
        "security": Key(STR, default="tls", choices=SECURITIES),
        "username": Key(STR, needed_if=("kind", "imap")),
        **_SECRET_KEYS,
        "oauth2": Key(STR),
        "idle": Key(BOOL, default=True),  # IMAP IDLE when the server offers it (mailboxes.md, "Latency")
        "folder": Key(STR, default="INBOX"),
        "path": Key(PATH, needed_if=("kind", "maildir")),
        "coordinators": Key(STR_LIST, required=True, check=_check_emails),
        "porteur_types": Key(STR_LIST, default=(), allow_empty=True, check=_check_porteur_types),
        "processed_keyword": Key(STR, default="$CitebotDone", check=_check_keyword),
        "move_to": Key(STR),
        "timeout": Key(NUMBER, default=30, check=_check_positive),
        "ca_file": Key(PATH),
        # The contact block at the end of the mails of this mailbox's dossiers (coordinators.md).
        "signature": Key(STR, default="", allow_empty=True),
    }),
    # One block per application registration (mailboxes.md, "Authentication").
    "oauth2": Section(array=True, required=False, keys={
        "name": Key(STR, required=True, check=_check_mailbox_name),
        "provider": Key(STR, required=True, choices=OAUTH2_PROVIDERS),
        "tenant": Key(STR, needed_if=("provider", "microsoft")),  # tenant id or domain
        "client_id": Key(STR, needed_if=("provider", "microsoft")),
        "client_secret": Key(STR, secret=True),
        "client_secret_env": Key(STR, check=_check_env_name),
        "client_secret_file": Key(PATH, credential=True),
        "certificate_file": Key(PATH, credential=True),  # microsoft: PEM, private key and certificate
        "key_file": Key(PATH, credential=True),  # google: the service account's JSON key
        "command": Key(STR),  # provider "command": prints an access token
        "token_url": Key(STR),  # the provider's token endpoint, overridden (tests, national clouds)
        "scope": Key(STR),  # default: the provider's mail scope
        "ca_file": Key(PATH),  # the CA to trust for the token endpoint (a private CA)
        "timeout": Key(NUMBER, default=30, check=_check_positive),
    }),
    "avis": Section({
        "ien": Key(STR_LIST, required=True, check=_check_emails),
        "reply_mailbox": Key(STR, required=True),
        "reminder_days": Key(INT, default=7, check=_at_least(1)),
        "authserv_id": Key(STR, default="", allow_empty=True, check=_check_authserv_id),  # old name
        # The IEN's comment is an internal opinion: the porteur is told it only when true.
        "comment_to_porteur": Key(BOOL, default=False),
    }),
    "coordination": Section(required=False, keys={
        # More coordinators (the Préfecture's pilot): digests of every dossier, commands by mail.
        "extra": Key(STR_LIST, default=(), allow_empty=True, check=_check_emails),
        # Letters that follow a coordinator's command wait this long: ANNULER cancels them.
        "undo_minutes": Key(INT, default=30, check=_at_least(0)),
    }),
    "schedule": Section(required=False, keys={
        "poll_seconds": Key(INT, default=120, check=_at_least(1)),
        "digest": Key(STR, default="mon-fri 07:45", check=_check_when),
        "reminders": Key(STR, default="08:30", check=_check_daily_time),
        "purge": Key(STR, default="03:30", check=_check_daily_time),
    }),
    "limits": Section(required=False, keys={
        "max_attachment_mb": Key(INT, default=20, check=_at_least(1)),
        "max_message_mb": Key(INT, default=40, check=_at_least(1)),  # larger: never downloaded
        "auto_replies_per_sender_per_day": Key(INT, default=5, check=_at_least(0)),
        # All kinds together, coordinators and the IEN excepted (security.md).
        "mails_per_recipient_per_day": Key(INT, default=10, check=_at_least(1)),
        "fiches_per_message": Key(INT, default=5, check=_at_least(1)),
    }),
    "outbox": Section(required=False, keys={
        # Kinds of mail (templates_mail/<kind>) kept in the outbox until `citebot outbox release ID`.
        "hold": Key(STR_LIST, default=(), allow_empty=True, check=_check_mail_kinds),
    }),
}


# --------------------------------------------------------------------------- the configuration


@dataclass(frozen=True, kw_only=True)
class BotConfig:
    name: str
    address: str
    reference_prefix: str = "CE"
    timezone: str = "Europe/Paris"
    data_dir: Path
    database_url: str
    authserv_id: str = ""  # "": replies are trusted on their From alone (`run` and `poll` say so)


@dataclass(frozen=True, kw_only=True)
class OAuth2Config:
    """An application registration, shared by the mailboxes and [smtp] that name it. Exactly one
    credential is set, as the provider needs: client_secret or certificate (microsoft), key (google:
    the service account's JSON, as read), command."""

    name: str
    provider: str  # "microsoft" | "google" | "command"
    tenant: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    certificate: str | None = field(default=None, repr=False)  # PEM text: private key and certificate
    key: str | None = field(default=None, repr=False)  # google: the service account's JSON key
    command: str | None = None
    token_url: str | None = None
    scope: str | None = None
    ca_file: Path | None = None
    timeout: float = 30


@dataclass(frozen=True, kw_only=True)
class SmtpConfig:
    transport: str  # "smtp" | "maildir"
    host: str | None = None
    port: int = 587
    security: str = "starttls"  # "none" | "starttls" | "tls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    oauth2: OAuth2Config | None = None  # XOAUTH2 with that block's tokens instead of the password
    path: Path | None = None  # transport = "maildir": folder of .eml files
    timeout: float = 30
    ca_file: Path | None = None


@dataclass(frozen=True, kw_only=True)
class MailboxConfig:
    name: str
    address: str
    mode: str = "personnel"  # "personnel" | "dedie"
    since: date | None = None  # start date; None: seven days before the first poll
    kind: str  # "imap" | "maildir"
    host: str | None = None
    port: int = 993
    security: str = "tls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    oauth2: OAuth2Config | None = None  # XOAUTH2 with that block's tokens instead of the password
    idle: bool = True  # IMAP IDLE when the server offers it
    folder: str = "INBOX"
    path: Path | None = None  # kind = "maildir"
    coordinators: tuple[str, ...]
    porteur_types: tuple[str, ...] = ()
    processed_keyword: str = "$CitebotDone"
    move_to: str | None = None
    timeout: float = 30
    ca_file: Path | None = None
    signature: str = ""


@dataclass(frozen=True, kw_only=True)
class AvisConfig:
    ien: tuple[str, ...]
    reply_mailbox: str
    reminder_days: int = 7
    comment_to_porteur: bool = False


@dataclass(frozen=True, kw_only=True)
class CoordinationConfig:
    extra: tuple[str, ...] = ()
    undo_minutes: int = 30


@dataclass(frozen=True, kw_only=True)
class ScheduleConfig:
    poll_seconds: int = 120
    digest: str = "mon-fri 07:45"
    reminders: str = "08:30"
    # The nightly purge (rules/retention.toml): a quiet hour that exists every day in
    # Paris (02:00-03:00 is skipped on the night summer time starts).
    purge: str = "03:30"

    @property
    def digest_when(self) -> When:
        return parse_when(self.digest)

    @property
    def reminders_when(self) -> When:
        return parse_when(self.reminders, days_allowed=False)

    @property
    def purge_when(self) -> When:
        return parse_when(self.purge, days_allowed=False)


@dataclass(frozen=True, kw_only=True)
class LimitsConfig:
    max_attachment_mb: int = 20
    max_message_mb: int = 40
    mails_per_recipient_per_day: int = 10
    fiches_per_message: int = 5
    auto_replies_per_sender_per_day: int = 5


@dataclass(frozen=True, kw_only=True)
class OutboxConfig:
    hold: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Config:
    bot: BotConfig
    smtp: SmtpConfig
    mailboxes: tuple[MailboxConfig, ...]
    avis: AvisConfig
    schedule: ScheduleConfig
    limits: LimitsConfig
    path: Path  # the configuration file itself (absolute)
    outbox: OutboxConfig = OutboxConfig()
    coordination: CoordinationConfig = CoordinationConfig()
    # What works but should be changed (a password in the file…): one French line
    # each, naming the file and the key; shown once by the command that loaded it.
    warnings: tuple[str, ...] = ()

    @property
    def own_addresses(self) -> frozenset[str]:
        """Where the bot never writes (lower case): its own address and those of the
        mailboxes that exist for the call only (mode "dedie"), unless a coordinator
        reads mail there. A "personnel" mailbox is a coordinator's own inbox: its
        owner still gets their digest there."""
        dedicated = {m.address.lower() for m in self.mailboxes if m.mode == "dedie"}
        coordinators = {c.lower() for m in self.mailboxes for c in m.coordinators}
        return frozenset({self.bot.address.lower()} | (dedicated - coordinators))

    def mailbox(self, name: str) -> MailboxConfig | None:
        """The mailbox of that name, or None (e.g. a dossier of a mailbox since removed)."""
        return next((m for m in self.mailboxes if m.name == name), None)

    def mailbox_for_porteur_type(self, porteur_type: str | None) -> MailboxConfig | None:
        """The mailbox meant for that type of porteur, or None if no mailbox lists it."""
        return next((m for m in self.mailboxes if porteur_type in m.porteur_types), None)

    @property
    def coordinator_addresses(self) -> tuple[str, ...]:
        """Every coordinator: those of the mailboxes, then `[coordination] extra` (coordinators.md)."""
        every = [c for m in self.mailboxes for c in m.coordinators] + list(self.coordination.extra)
        return tuple(dict.fromkeys(a.lower() for a in every))

    @property
    def avis_reply_mailbox(self) -> MailboxConfig:
        """The mailbox whose address is the Reply-To: of avis requests (checked at load time)."""
        mailbox = self.mailbox(self.avis.reply_mailbox)
        assert mailbox is not None
        return mailbox


# --------------------------------------------------------------------------- lookup and loading


def find_config_path(path: Path | str | None = None, env: Mapping[str, str] = os.environ) -> Path:
    """The configuration file to use: the argument, else $CITEBOT_CONFIG, else ./config.toml."""
    if path is not None and str(path) != "":
        return Path(path)
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR])
    return Path(DEFAULT_FILE)


def load_config(path: Path | str | None = None, env: Mapping[str, str] = os.environ,
                secrets: bool = True) -> Config:
    """Read, check and resolve the configuration file. Raises ConfigError (one French line).

    With secrets=False the passwords are not read (they stay None): commands that
    only read the database (dossiers, export…) then work outside the service's
    credentials, e.g. `%d/…` files that only systemd provides."""
    path = find_config_path(path, env)
    shown = str(path)
    warnings: list[str] = []
    try:
        data = _read_toml(path)
        config = _build(data, Path(os.path.abspath(path)), env, secrets, warnings)
    except _Invalid as problem:
        raise ConfigError(shown, problem.text, problem.key) from None
    return dataclasses.replace(config, warnings=tuple(f"{shown} : {_one_line(text)}" for text in warnings))


def _read_toml(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _Invalid(
            None,
            f"fichier de configuration introuvable. Pour le créer, copiez {EXAMPLE_FILE} vers {path} et adaptez-le, "
            f"ou indiquez un autre fichier avec --config ou la variable d'environnement {ENV_VAR}.",
        ) from None
    except OSError as error:
        raise _Invalid(None, f"impossible de lire le fichier de configuration ({_os_reason(error)}).") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Invalid(None, "le fichier n'est pas encodé en UTF-8 ; enregistrez-le en UTF-8.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _Invalid(None, _syntax_message(str(error))) from None


def _syntax_message(detail: str) -> str:
    match = re.search(r"\(at line (\d+), column (\d+)\)", detail)
    where = f"à la ligne {match[1]}, colonne {match[2]}" if match else "à la fin du fichier"
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", detail).strip()
    return f"erreur de syntaxe TOML {where} ({reason})."


def _build(data: dict, config_file: Path, env: Mapping[str, str], secrets: bool, warnings: list[str]) -> Config:
    base = config_file.parent
    _reject_unknown(data, list(SCHEMA), "")
    for name, section in SCHEMA.items():
        if section.required and name not in data:
            if section.array:
                raise _bad(name, f"au moins une boîte [[{name}]] est attendue.")
            raise _bad(name, f"section [{name}] obligatoire manquante.")

    bot = _section(data.get("bot", {}), "bot", base)
    bot["database_url"] = _database_url(bot["database_url"], bot["data_dir"], base)

    oauth2 = _oauth2_blocks(data.get("oauth2", []), base, env, secrets, warnings)

    smtp = _section(data["smtp"], "smtp", base)
    _finish_server(smtp, _SMTP_PORTS)
    smtp["oauth2"] = _oauth2_of(smtp, "smtp", oauth2)
    if smtp["oauth2"] is not None and smtp["username"] is None:
        raise _bad("smtp.username", "valeur obligatoire avec oauth2 (l'adresse de la boîte qui envoie).")
    smtp["password"] = _smtp_password(smtp, env, secrets, warnings)

    tables = data["mailbox"]
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise _bad("mailbox", "une suite de tables [[mailbox]] est attendue (une par boîte relevée).")
    if not tables:
        raise _bad("mailbox", "au moins une boîte [[mailbox]] est attendue.")
    mailboxes = []
    for number, table in enumerate(tables, start=1):
        where = f"mailbox[{number}]"
        box = _section(table, where, base, schema_name="mailbox")
        _finish_server(box, _IMAP_PORTS)
        box["oauth2"] = _oauth2_of(box, where, oauth2)
        box["password"] = _resolve_password(box, where, env, warnings,
                                            needed=secrets and box["kind"] == "imap" and box["oauth2"] is None)
        mailboxes.append(MailboxConfig(**_tuples(box)))
    _check_mailboxes(mailboxes)

    avis = _section(data["avis"], "avis", base)
    bot["authserv_id"] = _authserv_id(bot["authserv_id"], avis.pop("authserv_id"))
    names = [m.name for m in mailboxes]
    if avis["reply_mailbox"] not in names:
        raise _bad(
            "avis.reply_mailbox",
            f"aucune boîte [[mailbox]] ne s'appelle {_q(avis['reply_mailbox'])} (boîtes : {_quoted(names)}).",
        )

    return Config(
        bot=BotConfig(**bot),
        smtp=SmtpConfig(**smtp),
        mailboxes=tuple(mailboxes),
        avis=AvisConfig(**_tuples(avis)),
        schedule=ScheduleConfig(**_section(data.get("schedule", {}), "schedule", base)),
        limits=LimitsConfig(**_section(data.get("limits", {}), "limits", base)),
        outbox=OutboxConfig(**_tuples(_section(data.get("outbox", {}), "outbox", base))),
        coordination=CoordinationConfig(**_tuples(_section(data.get("coordination", {}), "coordination", base))),
        path=config_file,
    )


def _authserv_id(current: str, old: str) -> str:
    """bot.authserv_id, else its old name avis.authserv_id; both given and different: refused."""
    if current and old and current.lower() != old.lower():
        raise _bad("bot.authserv_id", f"{_q(current)} ne correspond pas à « avis.authserv_id » ({_q(old)}), "
                                      "l'ancien nom de la même clé ; gardez seulement « bot.authserv_id ».")
    return current or old


def _reject_unknown(table: dict, known: list[str], prefix: str) -> None:
    for name in table:
        if name not in known:
            key = f"{prefix}{name}"
            text = f"clé « {key} » inconnue."
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            if close:
                text += f" Vouliez-vous dire « {close[0]} » ?"
            raise _Invalid(key, text)


def _section(table: Any, where: str, base: Path, schema_name: str | None = None) -> dict[str, Any]:
    """Check one table against its schema; the values by key, defaults filled in, paths resolved."""
    keys = SCHEMA[schema_name or where].keys
    if not isinstance(table, dict):
        raise _bad(where, f"une table [{where}] est attendue (reçu {_show(table)}).")
    _reject_unknown(table, list(keys), f"{where}.")
    values: dict[str, Any] = {}
    for name, key in keys.items():
        full = f"{where}.{name}"
        if name in table:
            values[name] = _value(table[name], key, full, base)
        elif key.required:
            raise _bad(full, "valeur obligatoire manquante.")
        else:
            default = key.default
            values[name] = _resolve_path(default, base) if key.type == PATH and default is not None else default
    for name, key in keys.items():
        if key.needed_if and name not in table:
            other, expected = key.needed_if
            if values.get(other) == expected:
                raise _bad(f"{where}.{name}", f"valeur obligatoire quand {other} = \"{expected}\".")
    return values


def _value(value: Any, key: Key, full: str, base: Path) -> Any:
    received = "" if key.secret else f" (reçu {_show(value)})"
    if not _has_type(value, key.type):
        raise _bad(full, f"{_TYPE_NAMES[key.type]}{received}.")
    if key.type in (STR, PATH, STR_LIST) and not key.allow_empty and not value:
        raise _bad(full, "la valeur ne peut pas être vide.")
    if key.choices and value not in key.choices:
        shown = "" if key.secret else f"valeur {_q(value)} non reconnue ; "
        raise _bad(full, f"{shown}valeurs possibles : {_quoted(key.choices)}.")
    if key.check and (problem := key.check(value)):
        raise _bad(full, f"{problem}.")
    if key.type == PATH and not (key.credential and _CREDENTIAL.match(value)):
        return _resolve_path(value, base)
    if key.type == DATE and isinstance(value, str):
        return _as_date(value)
    return value  # a credential path stays as written until the environment is known


def _has_type(value: Any, type_: str) -> bool:
    if type_ in (STR, PATH):
        return isinstance(value, str)
    if type_ == BOOL:
        return isinstance(value, bool)
    if type_ == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_ == STR_LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if type_ == DATE:  # "2026-12-01" or a TOML date 2026-12-01
        return (isinstance(value, date) and not isinstance(value, datetime)) or (
            isinstance(value, str) and _as_date(value) is not None)
    raise AssertionError(type_)


def _as_date(value: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _resolve_path(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


_SQLITE_URL = re.compile(r"(sqlite(?:\+\w+)?:///)([^?]*)(\?.*)?")


def _database_url(url: str | None, data_dir: Path, base: Path) -> str:
    """Default SQLite database in data_dir; a relative SQLite path is relative to the config file."""
    if url is None:
        return f"sqlite:///{data_dir / 'citebot.sqlite3'}"
    if not url.strip():
        raise _bad("bot.database_url", "la valeur ne peut pas être vide.")
    _refuse_password_in_url(url)
    match = _SQLITE_URL.fullmatch(url)
    if match and match[2] and match[2] != ":memory:" and not match[2].startswith("file:"):
        return f"{match[1]}{_resolve_path(match[2], base)}{match[3] or ''}"
    return url


def _refuse_password_in_url(url: str) -> None:
    """A password in database_url would sit in the file, and SQLAlchemy would put the
    URL in its error messages. Neither message here shows the value: it may hold it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise _bad("bot.database_url", "ce n'est pas une adresse de base de données SQLAlchemy "
                                       "(exemples : « sqlite:///var/citebot.sqlite3 », "
                                       "« postgresql+psycopg://citebot@/citebot »).") from None
    if parsed.password or "password" in {name.lower() for name in parsed.query}:
        raise _bad("bot.database_url", "l'adresse contient un mot de passe, qui n'a pas sa place dans le fichier "
                                       "de configuration ; retirez-le de l'adresse et connectez-vous par le socket "
                                       "Unix (« postgresql+psycopg://citebot@/citebot », authentification peer) "
                                       "ou donnez-le par un fichier PGPASSFILE.")


def _finish_server(values: dict[str, Any], default_ports: dict[str, int]) -> None:
    if values["port"] is None:
        values["port"] = default_ports[values["security"]]


def _check_mailboxes(mailboxes: list[MailboxConfig]) -> None:
    seen_names: dict[str, int] = {}
    seen_types: dict[str, str] = {}
    for number, box in enumerate(mailboxes, start=1):
        if box.name in seen_names:
            raise _bad(
                f"mailbox[{number}].name",
                f"le nom {_q(box.name)} est déjà celui de mailbox[{seen_names[box.name]}] ; "
                "chaque boîte doit avoir son propre nom.",
            )
        seen_names[box.name] = number
        for porteur_type in box.porteur_types:
            if porteur_type in seen_types:
                raise _bad(
                    f"mailbox[{number}].porteur_types",
                    f"le type de porteur {_q(porteur_type)} est déjà attribué "
                    f"à la boîte « {seen_types[porteur_type]} » ; "
                    "chaque type ne peut aller qu'à une seule boîte.",
                )
            seen_types[porteur_type] = box.name


# --------------------------------------------------------------------------- secrets

# A systemd credential (LoadCredential=NAME:/etc/citebot/NAME.secret): password_file =
# "%d/NAME" (systemd's own specifier for that folder), "$CREDENTIALS_DIRECTORY/NAME" or
# "${CREDENTIALS_DIRECTORY}/NAME" is that file in the folder systemd gives the service.
_CREDENTIAL = re.compile(r"(?:%d|\$CREDENTIALS_DIRECTORY|\$\{CREDENTIALS_DIRECTORY\})/(.*)", re.S)


def _credential_file(written: str, key: str, env: Mapping[str, str]) -> Path:
    name = _CREDENTIAL.fullmatch(written)[1]
    if not name or "/" in name or name in (".", ".."):
        raise _bad(key, f"{_q(written)} : le nom d'un identifiant systemd est attendu après le dossier "
                        "(par exemple « %d/imap-en »).")
    folder = env.get("CREDENTIALS_DIRECTORY")
    if not folder:
        raise _bad(key, f"{_q(written)} désigne un identifiant systemd, mais la variable "
                        "CREDENTIALS_DIRECTORY n'est pas définie : lancez citebot par son service systemd "
                        "(LoadCredential=), ou indiquez le chemin du fichier.")
    return Path(folder) / name


def _smtp_password(smtp: dict[str, Any], env: Mapping[str, str], secrets: bool, warnings: list[str]) -> str | None:
    has_source = any(smtp[k] is not None for k in _PASSWORD_KEYS)
    if smtp["transport"] == "smtp" and has_source and smtp["username"] is None:
        raise _bad("smtp.username", "valeur obligatoire quand un mot de passe est indiqué.")
    needed = secrets and smtp["transport"] == "smtp" and smtp["username"] is not None and smtp["oauth2"] is None
    return _resolve_password(smtp, "smtp", env, warnings, needed=needed)


def _resolve_password(values: dict[str, Any], where: str, env: Mapping[str, str], warnings: list[str],
                      needed: bool) -> str | None:
    """Pop password / password_env / password_file from values; the secret itself, or None.

    At most one source may be given. It is resolved only when the server needs it
    (so that a maildir demo does not require IMAP variables to be set). A password
    written in the file, or a password file that other accounts may read, works but
    adds a line to `warnings` (security.md).
    """
    sources = {k: values.pop(k) for k in _PASSWORD_KEYS}
    given = [k for k, v in sources.items() if v is not None]
    if len(given) > 1:
        raise _bad(
            f"{where}.{given[1]}",
            f"une seule source de mot de passe est permise, or « {given[0]} » et « {given[1]} » sont indiquées ; "
            "gardez-en une seule.",
        )
    if given == ["password"]:
        # Whether it is needed or not: it sits in the file either way.
        warnings.append(
            f"clé « {where}.password » : le mot de passe est écrit dans le fichier de configuration, que "
            "d'autres personnes peuvent lire ou copier ; donnez-le plutôt par password_env (une variable "
            "d'environnement) ou password_file (un fichier que seul citebot peut lire)."
        )
    if not given:
        if needed:
            raise _bad(
                f"{where}.password",
                "un mot de passe est obligatoire ici ; "
                "indiquez password_env (recommandé), password_file ou password.",
            )
        return None
    if not needed:
        return None
    return _read_secret(given[0], sources[given[0]], f"{where}.{given[0]}", env, warnings)


def _read_secret(source: str, value: Any, key: str, env: Mapping[str, str], warnings: list[str]) -> str:
    """The secret given by `source`: written in the file (`password`, `client_secret`), in an
    environment variable (`…_env`), or in a file (`…_file`, `%d/NAME` for a systemd credential)."""
    if source.endswith("_env"):
        if not env.get(value):
            state = "est vide" if value in env else "n'est pas définie"
            raise _bad(key, f"la variable d'environnement {value} {state}.")
        return env[value]
    if not source.endswith("_file"):
        return value
    file = value
    if isinstance(file, str):
        file = _credential_file(file, key, env)
    try:
        with open(file, encoding="utf-8") as opened:
            _warn_if_shared(os.fstat(opened.fileno()), file, key, warnings)  # the file read, not its name
            secret = opened.read().rstrip("\r\n")
    except FileNotFoundError:
        raise _bad(key, f"le fichier {file} est introuvable.") from None
    except OSError as error:
        raise _bad(key, f"le fichier {file} ne peut pas être lu ({_os_reason(error)}).") from None
    except UnicodeDecodeError:
        raise _bad(key, f"le fichier {file} ne peut pas être lu (il n'est pas en UTF-8).") from None
    if not secret:
        raise _bad(key, f"le fichier {file} est vide.")
    return secret


# --------------------------------------------------------------------------- OAuth2

# What each provider needs besides its name: the one credential it reads.
_OAUTH2_CREDENTIALS = {
    "microsoft": (*_CLIENT_SECRET_KEYS, "certificate_file"),
    "google": ("key_file",),
    "command": ("command",),
}


def _oauth2_blocks(tables: Any, base: Path, env: Mapping[str, str], secrets: bool,
                   warnings: list[str]) -> dict[str, OAuth2Config]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise _bad("oauth2", "une suite de tables [[oauth2]] est attendue (une par application enregistrée).")
    blocks: dict[str, OAuth2Config] = {}
    for number, table in enumerate(tables, start=1):
        where = f"oauth2[{number}]"
        values = _section(table, where, base, schema_name="oauth2")
        name, provider = values["name"], values["provider"]
        if name in blocks:
            raise _bad(f"{where}.name", f"le nom {_q(name)} est déjà celui d'un autre bloc [[oauth2]].")
        allowed = _OAUTH2_CREDENTIALS[provider]
        given = [k for k in (*_CLIENT_SECRET_KEYS, "certificate_file", "key_file", "command")
                 if values[k] is not None]
        for other in given:
            if other not in allowed:
                raise _bad(f"{where}.{other}", f"cette clé ne sert pas au fournisseur {_q(provider)} "
                                               f"(clés possibles : {_quoted(allowed)}).")
        if len(given) != 1:
            raise _bad(f"{where}.{given[1] if given else allowed[0]}",
                       f"une et une seule des clés {_quoted(allowed)} est attendue pour le fournisseur "
                       f"{_q(provider)}.")
        if given == ["client_secret"]:
            warnings.append(
                f"clé « {where}.client_secret » : le secret est écrit dans le fichier de configuration ; "
                "donnez-le plutôt par client_secret_env ou client_secret_file (un fichier que seul citebot "
                "peut lire)."
            )
        source = given[0]
        credential = {}
        if secrets or source == "command":
            secret = _read_secret(source, values[source], f"{where}.{source}", env, warnings)
            field_name = {"certificate_file": "certificate", "key_file": "key", "command": "command"}.get(
                source, "client_secret")
            if field_name == "key":
                _check_service_account(secret, f"{where}.{source}")
            credential[field_name] = secret
        blocks[name] = OAuth2Config(
            name=name, provider=provider, tenant=values["tenant"], client_id=values["client_id"],
            token_url=values["token_url"], scope=values["scope"], ca_file=values["ca_file"],
            timeout=values["timeout"], **credential)
    return blocks


def _check_service_account(text: str, key: str) -> None:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not {"client_email", "private_key"} <= set(data):
        raise _bad(key, "la clé JSON d'un compte de service Google est attendue (client_email, private_key).")


def _oauth2_of(values: dict[str, Any], where: str, blocks: dict[str, OAuth2Config]) -> OAuth2Config | None:
    name = values["oauth2"]
    if name is None:
        return None
    if name not in blocks:
        known = f" (blocs : {_quoted(list(blocks))})" if blocks else " (aucun bloc [[oauth2]] n'est défini)"
        raise _bad(f"{where}.oauth2", f"aucun bloc [[oauth2]] ne s'appelle {_q(name)}{known}.")
    given = [k for k in _PASSWORD_KEYS if values[k] is not None]
    if given:
        raise _bad(f"{where}.{given[0]}", "un mot de passe et oauth2 sont indiqués ; gardez-en un seul.")
    return blocks[name]


def _warn_if_shared(status: os.stat_result, file: Path, key: str, warnings: list[str]) -> None:
    """A password file that its group or every account may read: the password is
    hardly a secret any more. It still works: refusing would stop the service."""
    if stat.S_IMODE(status.st_mode) & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(
            f"clé « {key} » : le fichier {file} est lisible par d'autres comptes que le sien "
            f"(droits {stat.S_IMODE(status.st_mode):04o}) ; réservez-le à citebot : chmod 600 {file} "
            "(ou passez-le en identifiant systemd, LoadCredential=)."
        )
