"""Sample fiches projet for the demonstration (and the tests and benchmarks),
built by filling the generated template."""

from __future__ import annotations

from bot.form.fill import fill_fiche
from bot.form.template import build_template
from bot.rules import Rules

COMPLETE = {
    "structure": "Association Lire et Dire",
    "type_porteur": "association",
    "referent_nom": "Camille Martin",
    "referent_email": "camille.martin@example.org",
    "referent_telephone": "03 21 00 00 00",
    "intitule": "Les petits reporters",
    "parcours": ["citoyen", "artistique_culturel"],
    "objectifs": "1.2.2 Valoriser l'engagement des enfants\n3.1.3 Éducation artistique et culturelle",
    "secteurs": ["curie"],
    "etablissements": "École Jean Jaurès",
    "public_vise": "Élèves de CM1-CM2",
    "nb_beneficiaires": "environ 48",
    "temps": ["periscolaire"],
    "date_debut": "1er septembre 2026",
    "date_fin": "30/06/2027",
    "description": "Un journal radio réalisé par les enfants.\nDeux séances par semaine avec une journaliste.",
    "cout_total": "4 500 €",
    "montant_sollicite": "3 000,00 €",
    "repartition": {"2026": "1 200 €", "2027": "1 800 €"},
    "materiel": [{"designation": "Enregistreur audio", "quantite": "2", "prix_unitaire_ht": "189,00 €"}],
    "photos_mineurs": True,
    "engagement_communication": True,
}

WITH_ERRORS = {
    **COMPLETE,
    "intitule": "Atelier vidéo au collège",
    "referent_email": "camille.martin@",
    "temps": ["scolaire"],
    "montant_sollicite": "3 300 €",
    "repartition": {"2026": "1 200 €"},
    "materiel": [
        {"designation": "Vidéoprojecteur", "quantite": "1", "prix_unitaire_ht": "650,00 €"},
        {"designation": "Micro-cravate", "quantite": "4", "prix_unitaire_ht": "45 €"},
    ],
    "engagement_communication": False,
}

SCHOOL_TIME = {
    **COMPLETE,
    "structure": "École élémentaire Jean Jaurès",
    "type_porteur": "education_nationale",
    "referent_nom": "Karim Benali",
    "referent_email": "karim.benali@ac-lille.fr",
    "intitule": "Lire ensemble en CP",
    "parcours": ["artistique_culturel"],
    "temps": ["scolaire"],
    "photos_mineurs": False,
    "materiel": [],
}


def sample_files(rules: Rules) -> dict[str, bytes]:
    template = build_template(rules)
    return {
        "exemple-fiche-complete.docx": fill_fiche(template, COMPLETE, rules),
        "exemple-fiche-avec-erreurs.docx": fill_fiche(template, WITH_ERRORS, rules),
        "exemple-fiche-temps-scolaire.docx": fill_fiche(template, SCHOOL_TIME, rules),
    }

