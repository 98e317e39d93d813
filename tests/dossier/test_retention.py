"""The retention rules as data and the pure plan of bot/dossier/retention.py: rows in,
what is due out (the real stack is in test_purge.py)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from bot import clock
from bot.dossier.retention import (
    BilanRow,
    DocumentRow,
    DossierRow,
    EventRow,
    MailRow,
    MessageRow,
    Rows,
    VersionRow,
    kept_until,
    load_policy,
    message_expired,
    plan,
    reduced_detail,
)
from bot.paths import rules_dir
from bot.rules import load_rules

POLICY = load_policy()


def paris(year, month, day, hour=10, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=clock.PARIS)


def refused(id=1, on=paris(2026, 3, 10), **changes) -> DossierRow:
    return DossierRow(**{"id": id, "reference": f"CE-2026-{id:04d}", "status": "refuse", "updated_at": on,
                         "decided_at": on, "identity": True, **changes})


# --------------------------------------------------------------------------- rules/retention.toml


def test_the_shipped_rules_keep_five_years_and_ninety_days():
    assert (POLICY.dossier_years, POLICY.message_days, POLICY.outbox_days) == (5, 90, 90)
    assert POLICY.closed_statuses == {"accepte", "refuse", "sans_suite", "avis_defavorable"}


def test_the_fields_kept_are_fields_of_the_form_and_none_names_a_person():
    keys = {f.key for f in load_rules().fields}
    assert POLICY.keep_fields <= keys
    for personal in ("referent_nom", "referent_email", "referent_telephone", "structure", "intitule",
                     "description", "public_vise", "etablissements", "partenaires", "materiel"):
        assert personal not in POLICY.keep_fields
    assert {"montant_sollicite", "cout_total", "repartition", "parcours", "objectifs", "secteurs"} <= POLICY.keep_fields


def test_every_classification_of_a_message_without_dossier_is_covered():
    # Those the message path gives a message that belongs to no dossier (bot/dossier/intake.py, bot/poller.py).
    assert POLICY.message_classifications == {"automatique", "format_incorrect", "fiche_non_reconnue",
                                              "sans_expediteur", "trop_volumineux", "erreur", "hors_appel",
                                              "ancien", "doublon"}


def test_a_rules_file_with_a_wrong_value_names_its_key(tmp_path):
    (tmp_path / "retention.toml").write_text(
        (rules_dir() / "retention.toml").read_text(encoding="utf-8")
        .replace("years_after = 5", 'years_after = "cinq"'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[dossiers\] years_after doit être un nombre entier positif"):
        load_policy(tmp_path)


def test_event_details_keep_counts_and_statuses_only():
    detail = {"avant": "pret_troika", "apres": "refuse", "cause": "version 2", "errors": 3,
              "expediteur": "curieux@example.net", "filename": "Fiche Martin.docx", "subject": "Projet",
              "dropped": [{"address": "x@example.org", "why": "adresse de robot"}], "a": ["ien@ac-lille.fr"],
              "commentaire": "Très bien", "raison": "l'expéditeur (x@y.fr) n'est pas…", "error": "550 <x@y.fr>"}
    assert reduced_detail(detail, POLICY) == {"avant": "pret_troika", "apres": "refuse", "cause": "version 2",
                                              "errors": 3}


# --------------------------------------------------------------------------- until when a dossier is kept


def test_a_refused_dossier_is_kept_until_the_end_of_its_decision_year_plus_five():
    assert kept_until(refused(), POLICY) == date(2031, 12, 31)


def test_an_accepted_dossier_counts_from_its_last_bilan_received_or_due():
    bilans = (BilanRow(2026, date(2026, 12, 31), paris(2026, 12, 5)), BilanRow(2027, date(2027, 8, 29), None))
    accepted = refused(status="accepte", bilans=bilans)
    assert kept_until(accepted, POLICY) == date(2032, 12, 31)
    late = refused(status="accepte", bilans=(*bilans[:1], BilanRow(2027, date(2027, 8, 29), paris(2028, 1, 20))))
    assert kept_until(late, POLICY) == date(2033, 12, 31)  # received the year after: counted from then
    due_next_year = refused(status="accepte", bilans=(BilanRow(2026, date(2027, 2, 14)),))  # ends 16/12/2026
    assert kept_until(due_next_year, POLICY) == date(2032, 12, 31)
    assert kept_until(refused(status="accepte"), POLICY) == date(2031, 12, 31)  # owing no bilan: its decision


def test_an_avis_defavorable_or_a_closure_counts_from_the_change_of_status():
    changed = refused(status="avis_defavorable", decided_at=None, status_changed_at=paris(2027, 1, 3),
                      updated_at=paris(2027, 5, 1))
    assert kept_until(changed, POLICY) == date(2032, 12, 31)
    closed = refused(status="sans_suite", decided_at=None, updated_at=paris(2028, 6, 1))
    assert kept_until(closed, POLICY) == date(2033, 12, 31)  # no date of its own: its last change


def test_the_year_is_the_year_in_paris():
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc)  # 00:30 on 1 January 2027 in Paris
    assert kept_until(refused(on=new_year), POLICY) == date(2032, 12, 31)


def test_an_open_dossier_is_never_due():
    for status in ("nouveau", "incomplet", "en_attente_avis", "pret_troika"):
        dossier = refused(status=status, decided_at=None)
        assert kept_until(dossier, POLICY) is None
        assert plan(Rows(dossiers=(dossier,)), POLICY, date(2099, 1, 1)).empty


def test_a_dossier_whose_period_ends_tomorrow_stays_and_goes_the_day_after_it_ends():
    rows = Rows(dossiers=(refused(),))
    assert plan(rows, POLICY, date(2031, 12, 30)).empty
    assert plan(rows, POLICY, date(2031, 12, 31)).empty
    [due] = plan(rows, POLICY, date(2032, 1, 1)).dossiers
    assert (due.reference, due.kept_until, due.identity) == ("CE-2026-0001", date(2031, 12, 31), True)


# --------------------------------------------------------------------------- messages of no dossier


def message(id=1, classification="format_incorrect", received=paris(2026, 6, 10), raw="messages/ab/ab1.eml"):
    return MessageRow(id, classification, received, raw, described=True)


def test_a_message_left_alone_stays_89_and_90_days_and_goes_on_the_91st():
    assert not message_expired(message(), POLICY, date(2026, 9, 7))
    assert not message_expired(message(), POLICY, date(2026, 9, 8))
    assert message_expired(message(), POLICY, date(2026, 9, 9))
    # Received at 23:30 in Paris on 10 June: it is 21:30 UTC, the same day.
    assert not message_expired(message(received=paris(2026, 6, 10, 23, 30)), POLICY, date(2026, 9, 8))
    assert not message_expired(message(classification="depot"), POLICY, date(2099, 1, 1))


def test_loose_messages_go_with_their_files_documents_answers_and_events():
    rows = Rows(
        messages=(message(1), message(2, received=paris(2026, 9, 1), raw="messages/cd/cd2.eml"),
                  MessageRow(3, "hors_appel", paris(2026, 6, 10), "", described=False)),  # nothing to empty
        documents=(DocumentRow(10, None, 1, "documents/ef/ef.pdf"),),
        mails=(MailRow(20, None, 1, "sent", paris(2026, 6, 10), True), MailRow(21, None, None, "held",
                                                                               paris(2026, 6, 10), True)),
        events=(EventRow(30, None, None, "destinataire_ecarte", {"outbox_id": 20, "dropped": [{"address": "x@y"}]}),),
    )
    [loose] = plan(rows, POLICY, date(2026, 9, 9)).purges
    assert (loose.dossier_id, loose.messages, loose.documents, loose.mails, loose.events) == (None, (1,), (10,),
                                                                                              (20,), (30,))
    assert loose.files == ("documents/ef/ef.pdf", "messages/ab/ab1.eml")


# --------------------------------------------------------------------------- what goes with a dossier


def test_a_dossier_takes_its_messages_documents_versions_mails_and_events_and_leaves_the_rest():
    rows = Rows(
        dossiers=(refused(1), refused(2, on=paris(2028, 2, 1))),
        versions=(VersionRow(100, 1, 1, {"intitule": "Les petits reporters", "montant_sollicite": "3000.00"},
                             [{"code": "x"}], 10),),
        messages=(message(1, "depot"), message(2, "demande_statut", raw="messages/cd/cd2.eml"),
                  message(3, "depot", raw="messages/ef/ef3.eml")),
        documents=(DocumentRow(10, 1, 1, "documents/aa/fiche.docx"), DocumentRow(11, 1, 1, "documents/bb/annexe.pdf"),
                   DocumentRow(12, 2, 3, "documents/bb/annexe.pdf")),  # the same annex in dossier 2
        mails=(MailRow(20, 1, 1, "sent", paris(2026, 3, 2), True), MailRow(21, 1, None, "pending", paris(2026, 3, 2),
                                                                           True)),
        events=(EventRow(30, 1, 1, "dossier_cree", {"mailbox": "ville"}),
                EventRow(31, 1, 2, "statut_refuse", {"expediteur": "curieux@example.net"}),
                EventRow(32, 2, 3, "statut_refuse", {"expediteur": "curieux@example.net"})),
    )
    [first] = plan(rows, POLICY, date(2032, 1, 1)).dossiers
    assert (first.dossier_id, first.messages, first.documents, first.versions, first.mails, first.events) == (
        1, (1, 2), (10, 11), (100,), (20,), (31,))  # the event without personal data is left as it is
    assert first.files == ("documents/aa/fiche.docx", "messages/ab/ab1.eml", "messages/cd/cd2.eml")
    both = plan(rows, POLICY, date(2034, 1, 1)).dossiers
    assert [p.dossier_id for p in both] == [1, 2] and both[1].files == ("documents/bb/annexe.pdf",
                                                                        "messages/ef/ef3.eml")


def test_a_message_of_two_dossiers_goes_with_the_last_of_them():
    rows = Rows(dossiers=(refused(1), refused(2, on=paris(2028, 2, 1))),
                messages=(message(1, "depot"),),
                events=(EventRow(30, 1, 1, "dossier_cree", {}), EventRow(31, 2, 1, "dossier_cree", {})))
    [first] = plan(rows, POLICY, date(2032, 1, 1)).dossiers
    assert first.messages == () and first.files == ()  # dossier 2 still needs it
    assert [p.messages for p in plan(rows, POLICY, date(2034, 1, 1)).dossiers] == [(), (1,)]


def test_a_dossier_already_purged_is_not_planned_again():
    rows = Rows(dossiers=(refused(identity=False),),
                versions=(VersionRow(100, 1, 1, {"montant_sollicite": "3000.00"}, [], None),),
                messages=(MessageRow(1, "depot", paris(2026, 3, 2), "", False),),
                mails=(MailRow(20, 1, 1, "sent", paris(2026, 3, 2), False),),
                events=(EventRow(30, 1, 1, "statut_refuse", {}),
                        EventRow(31, 1, None, "purge", {"messages": 1, "fichiers": 2})))
    assert plan(rows, POLICY, date(2040, 1, 1)).empty


def test_a_purge_event_still_listing_its_files_is_work_to_finish():
    rows = Rows(events=(EventRow(31, None, None, "purge", {"messages": 1, "fichiers_a_effacer": ["messages/a.eml"]}),))
    [unfinished] = plan(rows, POLICY, date(2026, 1, 1)).unfinished
    assert (unfinished.event_id, unfinished.files) == (31, ("messages/a.eml",))
