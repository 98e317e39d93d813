"""One complete, valid fiche projet as label/value text pairs, and what it reads as."""

PAIRS = [
    ("Intitulé du projet", "Les petits reporters"),
    ("Structure porteuse", "Association Lire et Dire"),
    ("Type de porteur", "☐ Éducation nationale\n☐ Service de la Ville\n☒ Association\n☐ Structure partenaire\n☐ Secteur privé"),
    ("Nom du référent", "Camille Martin"),
    ("Courriel du référent", "camille.martin@example.org"),
    ("Téléphone du référent", "03.21.00.00.00"),
    ("Parcours", "☒ Citoyen\n☐ Avenir\n☐ Sport, santé, bien-être\n☒ Artistique et culturel\n☐ Scientifique et technique\n☐ Co-éducation"),
    ("Objectif(s) stratégique(s)", "1.2.2 Valoriser l'engagement des enfants\n3.1.3"),
    ("Secteur(s) de la Cité éducative", "☒ Niveau 1 – Collège Curie\n☐ Niveau 2 – Collège Riaumont\n☐ Niveau 3 – Collège Descartes"),
    ("Établissement(s) concerné(s)", "École Jean Jaurès"),
    ("Public visé", "Élèves de CM1-CM2"),
    ("Nombre de bénéficiaires", "48"),
    ("Temps d'intervention", "☒ Scolaire\n☐ Périscolaire\n☐ Extrascolaire"),
    ("Date de début", "01/09/2026"),
    ("Date de fin", "30/06/2027"),
    ("Description du projet", "Un journal radio réalisé par les enfants."),
    ("Partenaires", ""),
    ("Coût total du projet", "4 500,00 €"),
    ("Montant sollicité", "3 000,00 €"),
    ("Photos ou vidéos de mineurs prévues", "☐ Oui ☒ Non"),
    ("Engagement communication", "☒ Oui ☐ Non"),
]

REPARTITION_ROWS = [("Année", "Montant"), ("2026", "1 200 €"), ("2027", "1 800 €")]
MATERIEL_ROWS = [("Désignation", "Quantité", "Prix unitaire HT"), ("Enregistreur audio", "2", "189,00 €")]

FIELDS = {
    "intitule": "Les petits reporters",
    "structure": "Association Lire et Dire",
    "type_porteur": "association",
    "referent_nom": "Camille Martin",
    "referent_email": "camille.martin@example.org",
    "referent_telephone": "03 21 00 00 00",
    "parcours": ["citoyen", "artistique_culturel"],
    "objectifs": ["1.2.2", "3.1.3"],
    "secteurs": ["curie"],
    "etablissements": "École Jean Jaurès",
    "public_vise": "Élèves de CM1-CM2",
    "nb_beneficiaires": 48,
    "temps": ["scolaire"],
    "date_debut": "2026-09-01",
    "date_fin": "2027-06-30",
    "description": "Un journal radio réalisé par les enfants.",
    "partenaires": None,
    "cout_total": "4500.00",
    "montant_sollicite": "3000.00",
    "repartition": {"2026": "1200.00", "2027": "1800.00"},
    "materiel": [{"designation": "Enregistreur audio", "quantite": 2, "prix_unitaire_ht": "189.00"}],
    "photos_mineurs": False,
    "engagement_communication": True,
}


def fiche(changes: dict[str, str] | None = None, repartition=REPARTITION_ROWS, materiel=MATERIEL_ROWS,
          after: str = "", **package) -> bytes:
    """The sample fiche as a .docx, with some values (by label) changed; `after`:
    more body XML (a section's properties…), `package`: passed to docx()."""
    from docx_factory import docx, label_table, tbl, tr

    changes = changes or {}
    pairs = [(label, changes.get(label, value)) for label, value in PAIRS]
    body = label_table(pairs)
    if repartition:
        body += tbl(*(tr(*row) for row in repartition))
    if materiel:
        body += tbl(*(tr(*row) for row in materiel))
    return docx(body + after, **package)
