"""One realistic context per mail template (templates_mail/<name>/), as the senders
build them: what the typography test renders. A new template needs its context
here, or test_typography fails naming it."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from bot.rules import load_rules
from bot.text import plural_label

# 1 December 2026, 19:01 in Paris: the first of a month, an hour past noon.
RECEIVED = datetime(2026, 12, 1, 18, 1, tzinfo=timezone.utc)
TODAY = date(2026, 12, 1)
COMMON = {"reference": "CE-2026-0007", "intitule": "Les petits reporters", "bot_name": "Cité éducative de Liévin"}
ERRORS = [
    "Rubrique « Porteur » : le champ « Courriel du référent » est vide ou absent. Merci de le compléter.",
    "Le montant sollicité (3 300,00\u00a0€) est supérieur au coût total du projet (3 000,00\u00a0€).",
    "L'engagement de communication n'est pas coché.",
    "La répartition par année civile totalise 1 200,00\u00a0€.",
]
# The acknowledgement's summary as intake builds it: every label of the form, as a letter writes it.
SUMMARY = [(plural_label(f.label), "Les petits reporters") for f in load_rules().fields]
COORDINATORS = ["chloe.dulieux@ac-lille.fr", "l.marcq@lievin.fr"]
# A container that could not be opened (bot/mail/containers.py), as intake describes it.
UNOPENED = [{"name": "pièces.zip", "reason": "encrypted", "container": "zip"}]

CONTEXTS: dict[str, dict] = {
    "accuse_reception": {"unopened": UNOPENED, 
        **COMMON, "version": 2, "referent": "Camille Martin", "received_at": RECEIVED,
        "received_by": "l.marcq@lievin.fr", "routed_to": {"team": "la coordination Ville de la Cité éducative",
                                                           "address": "l.marcq@lievin.fr"},
        "errors": ERRORS, "notes": ["Tableau du matériel : le prix est indiqué TTC."], "summary": SUMMARY,
        "avis_needed": True, "photos_mineurs": True, "mention": "Avec le concours de la Préfecture",
        "logos": "les logos de la Cité éducative", "cap": "500\u00a0€", "left_over": ["c.docx"],
        "fiches_per_message": 5,
    },
    "avis_deja_donne": {**COMMON, "answered_at": RECEIVED, "answered_by": "ien@ac-lille.fr",
                        "coordinators": COORDINATORS, "status": "favorable"},
    "avis_demande": {**COMMON, "comment_to_porteur": False, "code": "K7QX", "description": "Un journal radio.", "summary": SUMMARY},
    "avis_incompris": {**COMMON, "code": "K7QX"},
    "avis_mise_a_jour": {**COMMON, "code": "K7QX", "version": 2},
    "avis_notification": {**COMMON, "answered_at": RECEIVED, "comment": "Très bien !", "coordinators": COORDINATORS,
                          "favorable": False},
    "avis_relance": {**COMMON, "code": "K7QX", "number": 2, "requested_at": TODAY,
                     "structure": "Association Lire et Dire"},
    "bilan_rappel": {**COMMON, "bilan": "bilan de mi-parcours", "due": date(2026, 12, 31), "number": 1,
                     "suffixes": ".docx, .odt, .pdf", "year": 2026},
    "bilan_recu": {**COMMON, "bilan": "bilan de mi-parcours", "filename": "bilan.docx", "received_at": RECEIVED,
                   "remaining": [{"label": "bilan définitif", "year": 2027, "due": date(2027, 8, 29)}],
                   "year": 2026},
    "confirmation_attendue": {"bot_name": COMMON["bot_name"], "subject": "Notre fiche"},
    "confirmation_demandee": {**COMMON, "feminine": True, "received_at": RECEIVED, "sender": "autre@example.org",
                              "what": "une nouvelle version de la fiche"},
    "confirmation_enregistree": {**COMMON, "applied": True, "feminine": True, "sender": "autre@example.org",
                                 "what": "la nouvelle version de la fiche"},
    "decision_acceptee": {
        **COMMON, "bilans": [{"label": "bilan de mi-parcours", "year": 2026, "due": date(2026, 12, 31)},
                             {"label": "bilan définitif", "year": 2027, "due": date(2027, 8, 29)}],
        "cap": "500\u00a0€", "comment": "Bravo !", "logos": "les logos de la Cité éducative",
        "mention": "Avec le concours de la Préfecture", "montant": Decimal("2400.50"),
        "montant_sollicite": Decimal("3000"), "coordinators": COORDINATORS,
    },
    "decision_refus": {**COMMON, "comment": "Budget trop élevé.", "coordinators": COORDINATORS},
    "deja_recu": {**COMMON, "errors_count": 4, "filename": "fiche.docx", "first_received_at": RECEIVED},
    "digest": {"today": TODAY, "since": RECEIVED, "sections": [
        {"title": "Fiches incomplètes", "rows": [{"reference": "CE-2026-0007", "intitule": "Les petits reporters",
                                                   "structure": "Lire et Dire", "detail": "4\u00a0points à corriger"}]},
    ]},
    "fiche_non_reconnue": {"unopened": UNOPENED, "bot_name": COMMON["bot_name"], "subject": "Fiche",
                           "files": [{"name": "fiche.odt", "message": "Le fichier est au format OpenDocument."}]},
    "fichier_deja_recu": {"bot_name": COMMON["bot_name"], "filename": "fiche.docx"},
    "format_incorrect": {"unopened": UNOPENED, "bot_name": COMMON["bot_name"], "received": ["fiche.pdf"], "subject": "Fiche"},
    "message_trop_volumineux": {"bot_name": COMMON["bot_name"], "limit": 40 * 2**20, "size": 66 * 2**20,
                                "subject": "Fiche et photos"},
    "note_coordinateurs": {**COMMON, "status": "incomplet", "text": "Le porteur a écrit : merci !",
                           "title": "Message du porteur"},
    "statut_dossier": {**COMMON, "avis": "favorable", "bilans": [
        {"label": "bilan de mi-parcours", "year": 2026, "received_at": RECEIVED, "due": date(2026, 12, 31)}],
        "errors": ERRORS[:1], "montant_accorde": Decimal("2400.50"), "now": RECEIVED, "status": "accepté",
        "version": 1, "version_received_at": RECEIVED},
    "statut_indisponible": {"bot_name": COMMON["bot_name"], "subject": "statut"},
    "commandes_a_confirmer": {"lines": ["ACCEPTÉ CE-2026-0007 2 500 € — un très beau projet", "REFUSÉ CE-2026-0008"],
                              "until": RECEIVED, "bot_name": COMMON["bot_name"]},
    "commandes_resultat": {
        "results": [{"line": "ACCEPTÉ CE-2026-0007 2 500 €", "done": True,
                     "text": "CE-2026-0007 accepté, 2\u00a0500,00\u00a0€ accordés ; courrier au porteur à 19\u00a0h\u00a031"},
                    {"line": "REFUSÉ CE-2026-9999", "done": False, "text": "dossier inconnu"}],
        "leave_at": RECEIVED, "undo_minutes": 30, "extra": [], "help": True, "note": None,
        "reference_example": "CE-2026-0007", "bot_name": COMMON["bot_name"]},
    "dossier_classe": {**COMMON, "coordinators": COORDINATORS, "comment": "Le projet a été abandonné."},
    "dossier_rouvert": {**COMMON, "coordinators": COORDINATORS, "status": "prêt pour la troïka"},
}
