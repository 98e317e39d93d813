"""The `citebot` command line (contract: ../shared/spec/cli.md)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path


def _starts_the_daemon(argv: list[str]) -> bool:
    """`citebot [--config PATH] [-v] run …` (the console script or python -m bot)."""
    if Path(argv[0]).name not in ("citebot", "__main__.py"):
        return False
    words = iter(argv[1:])
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word == "run"
    return False


if _starts_the_daemon(sys.argv):
    # Before anything is imported: from here on a stop signal waits for the daemon to take it
    # (bot.daemon.run), start-up included, and it ends cleanly, exit 0, instead of killing the
    # process in the middle of its migrations.
    signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGTERM, signal.SIGINT))

import click  # noqa: E402

from bot import cli_fr
from bot import text as typography

cli_fr.install()

EXIT_OK, EXIT_FINDINGS, EXIT_UNREADABLE = 0, 1, 2


class _Commands(cli_fr.FrenchGroup):
    """Every command: a storage or database failure (full disk, read-only or forbidden folder,
    locked or unreachable database) is one French line naming the path or the database and
    what to do, and exit 1 — never a traceback (it is logged at DEBUG, -v)."""

    def invoke(self, ctx: click.Context):
        from bot.store.faults import describe, is_system_fault

        try:
            return super().invoke(ctx)
        except Exception as exc:
            if not is_system_fault(exc):
                raise
            logging.getLogger("bot.cli").debug("storage failure", exc_info=exc)
            click.echo(describe(exc, (ctx.obj or {}).get("database_url")), err=True)
            sys.exit(1)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fichier de configuration (sinon $CITEBOT_CONFIG, sinon ./config.toml).")
@click.option("-v", "--verbose", is_flag=True, help="Journal détaillé.")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """citebot : le robot de réception des fiches projet de la Cité éducative."""
    ctx.obj = {"config_path": config_path}
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _sending(sending) -> str:
    """« courriels : 2 envoyés, 0 en attente, 0 en échec »."""
    return (f"courriels : {sending.sent} {'envoyé' if sending.sent < 2 else 'envoyés'}, "
            f"{sending.retrying} en attente, {sending.failed} en échec")


def runtime(ctx: click.Context, secrets: bool = True):
    """Configuration, database (migrated) and rules; one French line and exit 2 on a bad configuration.

    Commands that only read or change the database pass secrets=False: they work
    without the mail servers' passwords (outside the service's credentials)."""
    from bot.config import ConfigError, load_config
    from bot.poller import Runtime
    from bot.rules import load_rules
    from bot.store.db import open_database
    from bot.store.faults import is_system_fault

    try:
        cfg = load_config(ctx.obj["config_path"], secrets=secrets)
    except ConfigError as exc:
        click.echo(f"Configuration refusée — {exc}", err=True)
        sys.exit(2)
    ctx.obj["database_url"] = cfg.bot.database_url  # named by a storage failure's line (_Commands)
    for warning in cfg.warnings:  # once per command: `run` loads the file twice, this once
        logging.getLogger("bot.config").warning("%s", warning)
    try:
        db = open_database(cfg.bot.data_dir, cfg.bot.database_url)
    except OSError as exc:
        if is_system_fault(exc):
            raise  # read-only, forbidden, full: one line and exit 1 (_Commands)
        click.echo(f"Impossible de créer le dossier de données {cfg.bot.data_dir} : {exc.strerror}.", err=True)
        sys.exit(2)
    return Runtime(cfg=cfg, rules=load_rules(), sessions=db)


def _poller_lock(ctx: click.Context, command: str) -> int:
    """The lock `run` holds, for this command's life: one poller per data_dir (bot.store.lock).
    A second poller says so in one line and exits 1 without touching anything; taken before
    the database is opened (and migrated)."""
    from bot.config import ConfigError, load_config
    from bot.store.faults import is_system_fault
    from bot.store.lock import AlreadyRunning, acquire_lock

    try:
        data_dir = load_config(ctx.obj["config_path"], secrets=False).bot.data_dir
    except ConfigError as exc:
        click.echo(f"Configuration refusée — {exc}", err=True)
        sys.exit(2)
    try:
        fd = acquire_lock(data_dir, command)
    except AlreadyRunning as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except OSError as exc:
        if is_system_fault(exc):
            raise  # read-only, forbidden, full: one line and exit 1 (_Commands)
        click.echo(f"Impossible de créer le dossier de données {data_dir} : {exc.strerror}.", err=True)
        sys.exit(2)
    ctx.call_on_close(lambda: os.close(fd))  # released when the command ends, however it ends
    return fd


def _stop_on_signal(rt) -> None:
    """SIGTERM or SIGINT during `poll --once`: the message in hand is finished, nothing else is
    started, what was claimed for sending and not sent is released; a second signal ends it."""

    def stop(signum, _frame):
        rt.stopping.set()
        for name in (signal.SIGTERM, signal.SIGINT):
            signal.signal(name, signal.SIG_DFL)

    for name in (signal.SIGTERM, signal.SIGINT):
        signal.signal(name, stop)


def _warn_if_replies_are_unauthenticated(rt) -> None:
    """security.md, "Opinions and commands": the commands that read replies (`poll`, `run`) say
    once, at start, that without bot.authserv_id the IEN's replies are trusted on their From alone."""
    if not rt.cfg.bot.authserv_id:
        logging.getLogger("bot.config").warning(
            "%s : clé « bot.authserv_id » vide : les réponses de l'IEN sont acceptées sur la seule foi de leur "
            "adresse d'expéditeur (From), que n'importe qui peut imiter. Renseignez bot.authserv_id avec "
            "l'identifiant Authentication-Results de votre serveur de réception (README, « Finding the "
            "authserv-id of your server »).", rt.cfg.path)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Résultat en JSON sur la sortie standard.")
def check(file: Path, as_json: bool) -> None:
    """Lit et vérifie une fiche projet (.docx), sans configuration."""
    from bot.form.check import FICHE, UNREADABLE, check_bytes
    from bot.form.report import as_json as to_json
    from bot.form.report import as_text
    from bot.rules import load_rules

    try:
        data = file.read_bytes()
    except OSError as exc:
        click.echo(f"Impossible de lire le fichier {file} : {exc.strerror or exc}.", err=True)
        sys.exit(EXIT_UNREADABLE)
    rules = load_rules()
    result = check_bytes(data, rules)
    if as_json:
        click.echo(json.dumps(to_json(result, file.name), ensure_ascii=False, indent=2))
    else:
        click.echo(as_text(result, file.name, rules))
    if result.kind == UNREADABLE:
        sys.exit(EXIT_UNREADABLE)
    sys.exit(EXIT_OK if result.kind == FICHE and result.valid else EXIT_FINDINGS)


@main.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def template(out: Path) -> None:
    """Écrit la fiche projet vierge (.docx)."""
    from bot.form.template import build_template
    from bot.rules import load_rules

    try:
        out.write_bytes(build_template(load_rules()))
    except OSError as exc:
        click.echo(f"Impossible d'écrire {out} : {exc.strerror or exc}.", err=True)
        sys.exit(1)
    click.echo(f"Fiche projet vierge écrite dans {out}.")


@main.command()
@click.option("--once", is_flag=True, required=True, help="Un seul passage (le démon est « citebot run »).")
@click.pass_context
def poll(ctx: click.Context, once: bool) -> None:
    """Relève chaque boîte une fois, traite les messages, puis envoie les courriels en attente."""
    from bot.poller import poll_once

    _poller_lock(ctx, "poll")
    rt = runtime(ctx)
    _warn_if_replies_are_unauthenticated(rt)
    _stop_on_signal(rt)
    report = poll_once(rt)
    if report.fault:
        click.echo(report.fault, err=True)
    sending = report.sending
    aside = (f", dont {report.left_alone} hors appel ({'laissé tel quel' if report.left_alone < 2 else 'laissés tels quels'})"
             if report.left_alone else "")
    click.echo(typography.spaces(
        f"{typography.plural(report.handled, 'message traité')}{aside}, {report.skipped} déjà "
        f"{'connu' if report.skipped < 2 else 'connus'} ; {_sending(sending)}."))
    for name in report.unreachable:
        click.echo(report.advice.get(name) or f"Boîte « {name} » injoignable : elle sera relevée au prochain passage.",
                   err=True)
    if sending.unreachable:
        click.echo("Serveur d'envoi injoignable : les courriels partiront au prochain passage.", err=True)
    sys.exit(EXIT_OK if report.ok else 1)


@main.command()
@click.argument("mailbox")
@click.option("--since", "since", required=True, type=cli_fr.Day(),
              help="Reprendre les messages reçus depuis ce jour (AAAA-MM-JJ).")
@click.option("--answer", is_flag=True, help="Répondre aussi aux porteurs (par défaut : aucun courriel aux porteurs).")
@click.pass_context
def backfill(ctx: click.Context, mailbox: str, since, answer: bool) -> None:
    """Reprend les fiches des messages antérieurs à la date de départ d'une boîte, une seule fois."""
    from bot.mail.sources import MailboxUnavailable
    from bot.poller import backfill as take_back

    _poller_lock(ctx, "backfill")
    rt = runtime(ctx)
    box = rt.cfg.mailbox(mailbox)
    if box is None:
        names = ", ".join(f"« {m.name} »" for m in rt.cfg.mailboxes)
        click.echo(f"Aucune boîte ne s'appelle « {mailbox} » (boîtes : {names}).", err=True)
        sys.exit(1)
    try:
        report = take_back(rt, box, since.date(), answer)
    except MailboxUnavailable:
        click.echo(f"Boîte « {mailbox} » injoignable : rien n'a été repris, réessayez plus tard.", err=True)
        sys.exit(1)
    sending = report.sending
    click.echo(typography.spaces(
        f"{typography.plural(report.handled - report.left_alone, 'message repris')}, {report.left_alone} sans fiche "
        f"{'laissé tel quel' if report.left_alone < 2 else 'laissés tels quels'}, {report.skipped} déjà "
        f"{'connu' if report.skipped < 2 else 'connus'} ; {_sending(sending)}."))
    if not answer:
        click.echo("Aucun courriel n'a été adressé aux porteurs (option --answer pour leur répondre).")
    sys.exit(EXIT_OK)


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Le démon : relève, envoi, rappels et synthèse aux heures de [schedule], jusqu'à SIGTERM ou SIGINT.

    Un seul démon par dossier de données : un second refuse de démarrer (code 1).
    """
    from bot import daemon

    daemon.configure_logging(logging.getLogger().level)
    lock = _poller_lock(ctx, "run")  # before the database is opened (and migrated)
    rt = runtime(ctx)
    _warn_if_replies_are_unauthenticated(rt)
    sys.exit(daemon.run(rt, lock))


@main.group()
def dossiers() -> None:
    """Consulter les dossiers."""


@dossiers.command("list")
@click.option("--status", type=cli_fr.Status(), default=None,
              help="Seulement les dossiers dans ce statut, par sa clé ou son libellé (ex. incomplet, accepté).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def dossiers_list(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """La liste des dossiers."""
    from bot.dossier import views

    rt = runtime(ctx, secrets=False)
    with rt.sessions() as session:
        found = views.list_dossiers(session, status)
        if as_json:
            click.echo(json.dumps([views.summary(d) for d in found], ensure_ascii=False, indent=2))
        elif found:
            click.echo(views.table(found))
        else:
            click.echo("Aucun dossier.")


@dossiers.command("show")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def dossiers_show(ctx: click.Context, reference: str, as_json: bool) -> None:
    """Un dossier : versions, constats, événements, documents, courriels."""
    from bot.dossier import views

    rt = runtime(ctx, secrets=False)
    with rt.sessions() as session:
        dossier = views.find(session, reference)
        if dossier is None:
            click.echo(f"Aucun dossier ne porte la référence {reference}.", err=True)
            sys.exit(1)
        data = views.details(session, dossier)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(typography.spaces(views.as_text(data)))


TODAY = click.option("--today", type=cli_fr.Day(), default=None,
                     help="Le jour à traiter (JJ/MM/AAAA ou AAAA-MM-JJ ; par défaut aujourd'hui, heure de Paris).")


@contextlib.contextmanager
def on_day(today):
    """Run as if it were `today` (a pinned clock), or really today."""
    from bot import clock

    if today is None:
        yield clock.today()
    else:
        with clock.pinned(today.date()):
            yield today.date()


@main.command()
@TODAY
@click.pass_context
def remind(ctx: click.Context, today) -> None:
    """Rappels dus ce jour : avis de l'IEN et bilans (puis alertes aux coordinateurs)."""
    from bot.dossier.reminders import run_reminders
    from bot.mail.outbox import send_pending

    rt = runtime(ctx)
    with on_day(today) as day:
        report = run_reminders(rt, day)
        sending = send_pending(rt.sessions, rt.transport, rt.cfg)
    click.echo(typography.spaces(f"{typography.short_day(day)} : {report} ; "
                                 f"{typography.plural(sending.sent, 'courriel envoyé')}."))


@main.command()
@TODAY
@click.pass_context
def digest(ctx: click.Context, today) -> None:
    """Prépare et envoie le point aux coordinateurs (rien s'il n'y a rien de nouveau)."""
    from bot import clock
    from bot.dossier.digest import send_digests
    from bot.mail.outbox import send_pending

    rt = runtime(ctx)
    # --today names the day of the digest (its title, the bilans due soon or late),
    # never the instant: what was received until now is told once, however many
    # digests run that day.
    day = today.date() if today is not None else clock.today()
    queued = send_digests(rt, day)
    send_pending(rt.sessions, rt.transport, rt.cfg)
    click.echo(typography.spaces(f"{typography.plural(queued, 'point envoyé')} aux coordinateurs." if queued
                                 else "Rien de nouveau : aucun point envoyé."))


@main.command()
@click.argument("reference")
@click.argument("verdict", type=click.Choice(["accepte", "refuse"]))
@click.option("--montant", default=None, help="Montant accordé en euros (par défaut : le montant sollicité).")
@click.option("--commentaire", default=None, help="Commentaire de la troïka, repris dans le courriel au porteur.")
@click.pass_context
def decide(ctx: click.Context, reference: str, verdict: str, montant: str | None, commentaire: str | None) -> None:
    """Enregistre la décision de la troïka et prépare le courrier au porteur (annulable : citebot undo)."""
    from bot.dossier import actions
    from bot.form.values import parse_amount

    try:
        amount = parse_amount(montant) if montant else None
        if amount is not None and not 0 < amount < 10**9:
            raise ValueError(montant)
    except ValueError:
        click.echo(f"Montant non reconnu : « {montant} » (exemple : --montant 1500 ou --montant \"1 500,00\").", err=True)
        sys.exit(1)
    _act(ctx, lambda session, rt: actions.decide(session, rt.cfg, rt.rules, reference, verdict, amount, commentaire,
                                                 line=f"citebot decide {verdict}"))


@main.command()
@click.argument("reference")
@click.option("--motif", default=None, help="Le motif, repris dans le courrier au porteur.")
@click.pass_context
def close(ctx: click.Context, reference: str, motif: str | None) -> None:
    """Classe un dossier sans suite : plus de rappels, hors des listes à traiter."""
    from bot.dossier import actions

    _act(ctx, lambda session, rt: actions.close(session, rt.cfg, reference, motif, line="citebot close"))


@main.command()
@click.argument("reference")
@click.pass_context
def reopen(ctx: click.Context, reference: str) -> None:
    """Annule une décision ou un classement : le dossier reprend le statut que son contenu lui donne."""
    from bot.dossier import actions

    _act(ctx, lambda session, rt: actions.reopen(session, rt.cfg, rt.rules, reference, line="citebot reopen"))


@main.command()
@click.argument("reference")
@click.argument("verdict", type=click.Choice(["favorable", "defavorable"]))
@click.option("--commentaire", default=None, help="Le commentaire de l'IEN (lu par la coordination).")
@click.pass_context
def avis(ctx: click.Context, reference: str, verdict: str, commentaire: str | None) -> None:
    """Enregistre un avis de l'IEN donné autrement (téléphone, secrétariat, papier), ou le corrige."""
    from bot.dossier import actions

    _act(ctx, lambda session, rt: actions.record_avis(session, rt.cfg, reference, verdict, commentaire,
                                                      line=f"citebot avis {verdict}"))


@main.command()
@click.argument("reference")
@click.pass_context
def undo(ctx: click.Context, reference: str) -> None:
    """Annule la dernière décision, le dernier classement ou la dernière réouverture tant que son courrier attend."""
    from bot.dossier import actions

    _act(ctx, lambda session, rt: actions.undo(session, rt.cfg, rt.rules, reference))


def _act(ctx: click.Context, act) -> None:
    """Apply one coordinator's command and say what it did and when its letters leave."""
    from bot import clock
    from bot.dossier import actions
    from bot.mail.compose import datetime_fr
    from bot.mail.outbox import send_pending

    rt = runtime(ctx)
    try:
        with rt.sessions.begin() as session:
            done = act(session, rt)
            reference, said, leave_at, held = done.dossier.reference, done.said, done.leave_at, done.held
            letters = len(done.letters)
    except actions.Refused as exc:
        text = str(exc)
        click.echo(text[0].upper() + text[1:] + ".", err=True)
        sys.exit(1)
    sending = send_pending(rt.sessions, rt.transport, rt.cfg)
    if not letters:
        after = "Aucun courrier au porteur."
    elif held:
        after = "Courrier au porteur retenu jusqu'à sa libération (citebot outbox list)."
    elif leave_at is not None and leave_at > clock.now():
        after = (f"Courrier au porteur : il partira le {datetime_fr(leave_at)} "
                 f"(d'ici là : citebot undo {reference}).")
    else:
        after = "Courrier au porteur : " + ("envoyé." if sending.sent else "en attente dans la file d'envoi.")
    click.echo(f"Dossier {reference} {said}. {after}")


@main.command()
@click.argument("reference")
@click.pass_context
def confirm(ctx: click.Context, reference: str) -> None:
    """Applique ce qui attend la confirmation du porteur (envoi depuis une adresse inconnue du dossier)."""
    from bot.dossier import views
    from bot.dossier.intake import apply_pending, waiting
    from bot.mail.outbox import send_pending

    rt = runtime(ctx)
    with rt.sessions.begin() as session:
        dossier = views.find(session, reference)
        if dossier is None:
            click.echo(f"Aucun dossier ne porte la référence {reference}.", err=True)
            sys.exit(1)
        changes = waiting(session, dossier)
        if not changes:
            click.echo(f"Rien n'attend de confirmation pour le dossier {dossier.reference}.", err=True)
            sys.exit(1)
        for change in changes:
            apply_pending(rt.cfg, rt.rules, session, change)
        reference, count = dossier.reference, len(changes)
    send_pending(rt.sessions, rt.transport, rt.cfg)
    click.echo(typography.spaces(f"Dossier {reference} : {typography.plural(count, 'envoi en attente appliqué', 'envois en attente appliqués')}."))


@main.group()
def outbox() -> None:
    """La file d'envoi : courriels retenus ([outbox] hold)."""


@outbox.command("list")
@click.pass_context
def outbox_list(ctx: click.Context) -> None:
    """Les courriels retenus, en attente d'être libérés ou annulés, puis ceux qui partiront plus tard."""
    from bot.dossier import views
    from bot.mail.outbox import held, later
    from bot.store.models import Dossier

    rt = runtime(ctx, secrets=False)

    def line(session, row, when) -> str:
        dossier = session.get(Dossier, row.dossier_id) if row.dossier_id else None
        return typography.spaces(f"{row.id:>5}  {views.iso(when)}  {row.kind:<18} "
                                 f"{dossier.reference if dossier else '—':<13} à {', '.join(row.recipients)} : "
                                 f"{row.subject}")

    with rt.sessions() as session:
        rows, waiting = held(session), later(session)
        if not rows:
            click.echo("Aucun courriel retenu.")
        for row in rows:
            click.echo(line(session, row, row.created_at))
        if waiting:
            click.echo(typography.spaces("\nPartiront plus tard (l'heure est celle du départ) :"))
        for row in waiting:
            why = ("délai d'annulation" if row.attempts == 0
                   else f"nouvel essai après {typography.plural(row.attempts, 'échec')}")
            click.echo(f"{line(session, row, row.next_attempt_at)}  ({why})")


@outbox.command("release")
@click.argument("row_id", metavar="ID", type=int)
@click.pass_context
def outbox_release(ctx: click.Context, row_id: int) -> None:
    """Libère un courriel retenu : il part au prochain envoi."""
    _outbox_action(ctx, row_id, "release", "libéré")


@outbox.command("cancel")
@click.argument("row_id", metavar="ID", type=int)
@click.pass_context
def outbox_cancel(ctx: click.Context, row_id: int) -> None:
    """Annule un courriel retenu : il ne partira pas."""
    _outbox_action(ctx, row_id, "cancel", "annulé")


def _outbox_action(ctx: click.Context, row_id: int, action: str, done: str) -> None:
    from bot.mail import outbox as box

    rt = runtime(ctx, secrets=action == "release")  # releasing sends
    try:
        with rt.sessions.begin() as session:
            getattr(box, action)(session, row_id)
    except box.OutboxError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    if action == "release":
        box.send_pending(rt.sessions, rt.transport, rt.cfg)
    click.echo(f"Courriel n° {row_id} {done}.")


@main.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def export(ctx: click.Context, out: Path) -> None:
    """Écrit un tableau des dossiers pour la troïka (OUT.xlsx ou OUT.csv, une ligne par dossier)."""
    from bot.dossier import views
    from bot.dossier.export import SUFFIXES
    from bot.dossier.export import export as write_export

    if out.suffix.lower() not in SUFFIXES:
        click.echo(f"Format non reconnu pour {out} : le nom du fichier doit finir par .xlsx ou .csv.", err=True)
        sys.exit(2)
    if not out.parent.is_dir():
        click.echo(f"Impossible d'écrire {out} : le dossier {out.parent} n'existe pas.", err=True)
        sys.exit(1)
    rt = runtime(ctx, secrets=False)
    try:
        with rt.sessions() as session:
            count = write_export(out, views.list_dossiers(session), rt.rules)
    except OSError as exc:
        click.echo(f"Impossible d'écrire {out} : {exc.strerror or exc}.", err=True)
        sys.exit(1)
    click.echo(f"{typography.plural(count, 'dossier exporté')} dans {out}.")


@main.command()
@click.option("--dry-run", is_flag=True, help="Dire ce qui serait effacé, sans rien effacer.")
@click.pass_context
def purge(ctx: click.Context, dry_run: bool) -> None:
    """Efface ce que les durées de conservation (rules/retention.toml) ne permettent plus de garder."""
    from bot import clock
    from bot.dossier.purge import run_purge

    rt = runtime(ctx, secrets=False)
    report = run_purge(rt, clock.today(), dry_run=dry_run)
    for line in report.lines():
        click.echo(line)


@main.group()
def db() -> None:
    """La base de données."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Applique les migrations (aussi fait automatiquement au démarrage)."""
    rt = runtime(ctx, secrets=False)
    click.echo(f"Base de données à jour ({rt.cfg.bot.database_url.split('://')[0]}).")


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"))
def demo(folder: Path) -> None:
    """Démonstration autonome : une boîte Maildir locale, des dépôts d'exemple, un passage complet."""
    from bot.demo import run_demo

    sys.exit(run_demo(folder))
