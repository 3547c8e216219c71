"""French normalization, case by case: what a person reading the text aloud would say."""

from __future__ import annotations

import pytest

from swtts.pipeline.normalize import normalize

NBSP = "\u00a0"
NNBSP = "\u202f"

CASES = [
    # argent
    ("49,95 €", "quarante-neuf euros quatre-vingt-quinze"),
    ("49,95€", "quarante-neuf euros quatre-vingt-quinze"),
    ("1,50 €", "un euro cinquante"),
    ("0,50 €", "cinquante centimes"),
    ("1 €", "un euro"),
    ("2 €", "deux euros"),
    ("€10", "dix euros"),
    ("3 $", "trois dollars"),
    ("10 EUR", "dix euros"),
    ("EUR 10", "dix euros"),
    ("2 M€", "deux millions d'euros"),
    ("5 M$", "cinq millions de dollars"),
    ("1 250 000 €", "un million deux cent cinquante mille euros"),
    (f"1{NNBSP}250,50{NBSP}€", "mille deux cent cinquante euros cinquante"),
    ("12,5 £", "douze virgule cinq livres"),
    # pourcentages
    ("12,5 %", "douze virgule cinq pour cent"),
    (f"50{NBSP}%", "cinquante pour cent"),
    ("10–20 %", "dix à vingt pour cent"),
    # heures
    ("14h30", "quatorze heures trente"),
    ("14 h 30", "quatorze heures trente"),
    ("14h", "quatorze heures"),
    ("1h", "une heure"),
    ("21h05", "vingt et une heures cinq"),
    ("14:30", "quatorze heures trente"),
    ("0h30", "zéro heure trente"),
    ("8h00", "huit heures"),
    ("à 12h21", "à douze heures vingt et une"),
    # dates
    ("29 novembre 2026", "vingt-neuf novembre deux mille vingt-six"),
    ("le 1er janvier", "le premier janvier"),
    ("le 1 mai", "le premier mai"),
    ("2026-11-29", "vingt-neuf novembre deux mille vingt-six"),
    ("29/11/2026", "vingt-neuf novembre deux mille vingt-six"),
    ("29.11.2026", "vingt-neuf novembre deux mille vingt-six"),
    ("11/29/2026", "11/29/2026"),
    ("en 1984", "en mille neuf cent quatre-vingt-quatre"),
    # ordinaux
    ("la 1re", "la première"),
    ("la 1ère", "la première"),
    ("le 1er", "le premier"),
    ("le 2e", "le deuxième"),
    ("le 2ème", "le deuxième"),
    ("le 3ème", "le troisième"),
    ("le 2nd", "le second"),
    ("la 2nde", "la seconde"),
    ("le 21e", "le vingt et unième"),
    ("le XIXe siècle", "le dix-neuvième siècle"),
    ("la Ve République", "la cinquième République"),
    ("François Ier", "François premier"),
    # nombres
    ("1 250 000", "un million deux cent cinquante mille"),
    (f"1{NBSP}250{NBSP}000", "un million deux cent cinquante mille"),
    (f"1{NNBSP}250{NNBSP}000", "un million deux cent cinquante mille"),
    ("3,5", "trois virgule cinq"),
    ("3,25", "trois virgule vingt-cinq"),
    ("3,05", "trois virgule zéro cinq"),
    ("2 000 ans", "deux mille ans"),
    ("-4", "moins quatre"),
    ("3.5", "3.5"),
    ("de 10 à 20", "de dix à vingt"),
    ("10-20", "dix à vingt"),
    ("pages 10–20", "pages dix à vingt"),
    # téléphone
    ("01 23 45 67 89", "zéro un, vingt-trois, quarante-cinq, soixante-sept, quatre-vingt-neuf"),
    ("06.12.34.56.78", "zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit"),
    ("+33 6 12 34 56 78", "plus trente-trois, six, douze, trente-quatre, cinquante-six, soixante-dix-huit"),
    ("0612345678", "zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit"),
    # unités
    ("21 °C", "vingt et un degrés Celsius"),
    ("-5 °C", "moins cinq degrés Celsius"),
    ("5 kg", "cinq kilogrammes"),
    ("1,5 kg", "un virgule cinq kilogramme"),
    ("2 km", "deux kilomètres"),
    ("100 km/h", "cent kilomètres par heure"),
    ("1 l", "un litre"),
    ("16 Go", "seize gigaoctets"),
    ("250 ml", "deux cent cinquante millilitres"),
    ("3 cm", "trois centimètres"),
    # abréviations et titres
    ("M. Dupont", "Monsieur Dupont"),
    ("Mme Durand", "Madame Durand"),
    ("Mme. Durand", "Madame Durand"),
    ("Mlle Roux", "Mademoiselle Roux"),
    ("Dr Martin", "Docteur Martin"),
    ("Pr Curie", "Professeur Curie"),
    ("n° 5", "numéro cinq"),
    ("p. ex. lui", "par exemple lui"),
    ("c.-à-d. demain", "c'est-à-dire demain"),
    ("des fruits, etc. Fin.", "des fruits, et cetera. Fin."),
    ("des fruits, etc. et plus", "des fruits, et cetera et plus"),
    ("la lettre M, puis", "la lettre M, puis"),
    ("env. 40 personnes", "environ quarante personnes"),
    ("voir p. 12", "voir page douze"),
    ("en 52 av. J.-C.", "en cinquante-deux avant Jésus-Christ."),
    ("en 52 av. J.-C. la ville", "en cinquante-deux avant Jésus-Christ la ville"),
    # chiffres romains
    ("Louis XIV", "Louis quatorze"),
    ("Henri IV", "Henri quatre"),
    ("chapitre III", "chapitre trois"),
    ("tome II", "tome deux"),
    ("Ce livre, De Gaulle, Le Monde", "Ce livre, De Gaulle, Le Monde"),
    # adresses
    ("https://www.exemple.fr/docs", "www point exemple point fr slash docs"),
    ("jean.dupont@exemple.fr", "jean point dupont arobase exemple point fr"),
    ("exemple.com", "exemple point com"),
    # symboles
    ("Tom & Jerry", "Tom et Jerry"),
    ("2 + 2 = 4", "deux plus deux égale quatre"),
    ("#1", "numéro un"),
    # texte intact
    ("Bonjour, comment allez-vous ?", "Bonjour, comment allez-vous ?"),
]


@pytest.mark.parametrize(("text", "spoken"), CASES, ids=[c[0][:40] for c in CASES])
def test_french(text: str, spoken: str) -> None:
    assert normalize(text, "fr_FR").spoken == spoken


@pytest.mark.parametrize("language", ["fr", "fr_FR", "fr-fr", "fr_CA", "FR"])
def test_language_codes_choose_french(language: str) -> None:
    assert normalize("5 €", language).spoken == "cinq euros"


def test_unknown_language_gets_markup_only() -> None:
    assert normalize("**$5** at 8:00", "de_DE").spoken == "$5 at 8:00"
    assert normalize("**$5** at 8:00", None).spoken == "$5 at 8:00"
