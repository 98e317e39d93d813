"""System faults: the machine's fault, never a message's.

A full disk, a read-only or forbidden folder, a database locked by another program or
unreachable: what was being done is rolled back and tried again later, and the operator
reads one French line that names the path or the database and what to do (never a
traceback). Everything else raised while a message is handled is that message's fault.
"""

from __future__ import annotations

import errno

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, InternalError, OperationalError

from bot.text import spaces

# errno values that say something about the machine, not about the data being read.
_FULL = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY = {errno.EROFS}
_FORBIDDEN = {errno.EACCES, errno.EPERM}
_MACHINE = _FULL | _READ_ONLY | _FORBIDDEN | {errno.EIO, errno.EMFILE, errno.ENFILE, errno.ENOMEM}
LATER = "ce qui n'a pas été traité le sera au prochain passage"


class StorageFault(Exception):
    """A system fault, already worded for the operator: str() is one French line."""


def database_name(url: str | None) -> str:
    """How the operator knows the database: its file for SQLite, its URL without password otherwise."""
    if not url:
        return "la base de données"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"la base de données {parsed.database or '(en mémoire)'}"
    return f"la base de données {parsed.render_as_string(hide_password=True)}"


def is_system_fault(exc: BaseException) -> bool:
    if isinstance(exc, StorageFault):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _MACHINE
    if isinstance(exc, (OperationalError, InterfaceError, InternalError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def describe(exc: BaseException, database_url: str | None = None) -> str:
    """The one French line for a system fault (is_system_fault(exc) is True)."""
    if isinstance(exc, StorageFault):
        return str(exc)
    if isinstance(exc, OSError):
        where = exc.filename or "le dossier de données"
        if exc.errno in _FULL:
            text = f"Disque plein : impossible d'écrire {where} ; libérez de la place, {LATER}."
        elif exc.errno in _READ_ONLY:
            text = f"{where} est en lecture seule : remontez le disque en écriture, {LATER}."
        elif exc.errno in _FORBIDDEN:
            text = (f"Accès refusé à {where} : l'utilisateur de citebot doit pouvoir y lire et écrire "
                    f"(propriétaire et droits du dossier de données), {LATER}.")
        else:
            text = f"Erreur du système sur {where} ({exc.strerror or exc}) : {LATER}."
        return spaces(text)
    name = database_name(database_url)
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0].lower() if str(exc) else ""
    if "locked" in reason or "busy" in reason:
        text = (f"{name[0].upper()}{name[1:]} est verrouillée par un autre programme : fermez-le "
                f"(une session sqlite3 ouverte, une sauvegarde en cours), {LATER}.")
    elif "readonly" in reason or "read-only" in reason:
        text = f"{name[0].upper()}{name[1:]} est en lecture seule : vérifiez les droits de son fichier et de son dossier."
    elif "full" in reason:
        text = f"Disque plein : impossible d'écrire dans {name} ; libérez de la place, {LATER}."
    elif "unable to open" in reason:
        text = (f"Impossible d'ouvrir {name} : vérifiez que son dossier existe et que l'utilisateur de "
                f"citebot peut y écrire.")
    else:
        text = f"{name[0].upper()}{name[1:]} est indisponible ({reason or type(exc).__name__}) : {LATER}."
    return spaces(text)


def fault(exc: BaseException, database_url: str | None = None) -> StorageFault:
    """The StorageFault that stands for exc."""
    return exc if isinstance(exc, StorageFault) else StorageFault(describe(exc, database_url))
