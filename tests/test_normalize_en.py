"""English normalization, case by case: what a person reading the text aloud would say."""

from __future__ import annotations

import pytest

from swtts.pipeline.normalize import normalize

CASES = [
    # money
    ("$49.95", "forty-nine dollars and ninety-five cents"),
    ("It costs $1,250.50 today.", "It costs one thousand two hundred and fifty dollars and fifty cents today."),
    ("$1", "one dollar"),
    ("$0.99", "ninety-nine cents"),
    ("$3.00", "three dollars"),
    ("$0.01", "one cent"),
    ("$2.5", "two point five dollars"),
    ("$1.5 million", "one point five million dollars"),
    ("$5M", "five million dollars"),
    ("$3bn", "three billion dollars"),
    ("$20k", "twenty thousand dollars"),
    ("€10", "ten euros"),
    ("€1.50", "one euro and fifty cents"),
    ("£5.50", "five pounds and fifty pence"),
    ("£1", "one pound"),
    ("20 USD", "twenty dollars"),
    ("USD 20", "twenty dollars"),
    ("EUR 15", "fifteen euros"),
    ("49.95$", "forty-nine dollars and ninety-five cents"),
    ("$ 12", "twelve dollars"),
    ("-$5", "minus five dollars"),
    ("$10-20", "ten to twenty dollars"),
    ("It costs $5. $6 is more.", "It costs five dollars. Six dollars is more."),
    # percentages
    ("50%", "fifty percent"),
    ("12.5 %", "twelve point five percent"),
    ("a 1% rise", "a one percent rise"),
    ("10–20 %", "ten to twenty percent"),
    ("-3%", "minus three percent"),
    # times
    ("8:00", "eight o'clock"),
    ("at 9:05", "at nine oh five"),
    ("10:30pm", "ten thirty PM"),
    ("10:30 p.m. sharp", "ten thirty PM sharp"),
    ("It opens at 10:30 a.m. Come early.", "It opens at ten thirty AM. Come early."),
    ("8 am", "eight AM"),
    ("at 7PM", "at seven PM"),
    ("14:30", "fourteen thirty"),
    ("18:00", "eighteen hundred"),
    ("12:45", "twelve forty-five"),
    # dates
    ("2026-11-29", "November twenty-ninth, twenty twenty-six"),
    ("11/29/2026", "November twenty-ninth, twenty twenty-six"),
    ("29/11/2026", "November twenty-ninth, twenty twenty-six"),
    ("Nov. 29, 2026", "November twenty-ninth, twenty twenty-six"),
    ("November 29", "November twenty-ninth"),
    ("on March 3rd, 1999", "on March third, nineteen ninety-nine"),
    ("29 November 2026", "the twenty-ninth of November twenty twenty-six"),
    ("the 4th of July", "the fourth of July"),
    ("in November 2026", "in November twenty twenty-six"),
    ("2026-13-45", "2026-13-45"),
    # years and decades
    ("In 1984 it rained.", "In nineteen eighty-four it rained."),
    ("since 2001", "since two thousand and one"),
    ("from 1990-2000", "from nineteen ninety to two thousand"),
    ("It was built in 1859.", "It was built in eighteen fifty-nine."),
    ("1984 people came", "one thousand nine hundred and eighty-four people came"),
    ("the 1980s", "the nineteen eighties"),
    ("the '90s", "the nineties"),
    ("the 1900s", "the nineteen hundreds"),
    ("in 55 BC", "in fifty-five BC"),
    # ordinals
    ("3rd", "third"),
    ("21st", "twenty-first"),
    ("the 2nd and 11th", "the second and eleventh"),
    ("the 101st", "the one hundred and first"),
    ("22th", "22th"),
    # numbers
    ("1,250,000", "one million two hundred and fifty thousand"),
    ("1\u202f250\u202f000", "one million two hundred and fifty thousand"),
    ("1 250 000", "one million two hundred and fifty thousand"),
    ("3.5", "three point five"),
    ("0.75", "zero point seven five"),
    ("3,5", "3,5"),
    ("2 100", "2 100"),
    ("42", "forty-two"),
    ("-4", "minus four"),
    ("v1.2.3", "v1.2.3"),
    ("COVID-19", "COVID-19"),
    ("3D", "3D"),
    # ranges
    ("pages 10-20", "pages ten to twenty"),
    ("10–20", "ten to twenty"),
    ("5-10 kg", "five to ten kilograms"),
    # phone numbers
    ("(555) 123-4567", "five five five, one two three, four five six seven"),
    ("555-123-4567", "five five five, one two three, four five six seven"),
    ("+1 555 123 4567", "plus one, five five five, one two three, four five six seven"),
    ("+44 20 7946 0958", "plus four four, two zero, seven nine four six, zero nine five eight"),
    # units
    ("5 kg", "five kilograms"),
    ("1 kg", "one kilogram"),
    ("5kg", "five kilograms"),
    ("2.5 km", "two point five kilometers"),
    ("100 km/h", "one hundred kilometers per hour"),
    ("21°C", "twenty-one degrees Celsius"),
    ("-5 °C", "minus five degrees Celsius"),
    ("98.6°F", "ninety-eight point six degrees Fahrenheit"),
    ("60 mph", "sixty miles per hour"),
    ("16 GB", "sixteen gigabytes"),
    ("1 l", "one liter"),
    ("250 ml", "two hundred and fifty milliliters"),
    ("3 cm", "three centimeters"),
    ("12 mm", "twelve millimeters"),
    ("90°", "ninety degrees"),
    ("500 MB", "five hundred megabytes"),
    # abbreviations and titles
    ("Dr. Smith", "Doctor Smith"),
    ("Mr. Jones and Mrs. Brown", "Mister Jones and Missus Brown"),
    ("Ms. Adler", "Miz Adler"),
    ("St. James St. is near.", "Saint James Street is near."),
    ("He lives on James St. The house is big.", "He lives on James Street. The house is big."),
    ("We read about St. Ives.", "We read about Saint Ives."),
    ("He lives on Mulholland Dr. in LA.", "He lives on Mulholland Drive in LA."),
    ("It was 21 degrees Celsius Dr. Smith said.", "It was twenty-one degrees Celsius Doctor Smith said."),
    ("fruits, e.g. apples", "fruits, for example apples"),
    ("red ones, i.e. ripe", "red ones, that is ripe"),
    ("cats vs. dogs", "cats versus dogs"),
    ("approx. 40 people", "approximately forty people"),
    ("tools, etc. and more", "tools, et cetera and more"),
    ("We packed rope, oil, etc. The boat left.", "We packed rope, oil, et cetera. The boat left."),
    ("and so on, etc.", "and so on, et cetera."),
    ("No. 5", "Number five"),
    ("I said no. Then I left.", "I said no. Then I left."),
    ("Acme Inc. announced", "Acme Incorporated announced"),
    ("John Smith Jr. was", "John Smith Junior was"),
    ("Prof. Moriarty", "Professor Moriarty"),
    ("Mr Smith and Dr Watson in St Ives", "Mister Smith and Doctor Watson in Saint Ives"),
    ("on Baker St in London", "on Baker Street in London"),
    ("the dr said", "the dr said"),
    ("Mt. Everest", "Mount Everest"),
    ("E.g. this one", "For example this one"),
    ("see Fig. 3", "see figure three"),
    # roman numerals
    ("Louis XIV", "Louis the fourteenth"),
    ("Henry VIII", "Henry the eighth"),
    ("Elizabeth I", "Elizabeth the first"),
    ("chapter IV", "chapter four"),
    ("World War II", "World War two"),
    ("I am here.", "I am here."),
    ("Part III begins", "Part three begins"),
    ("a CD and a DVD", "a CD and a DVD"),
    # addresses
    ("https://www.example.com/docs/intro", "www dot example dot com slash docs slash intro"),
    ("Visit example.org today.", "Visit example dot org today."),
    ("john.doe@example.com", "john dot doe at example dot com"),
    ("Write to a.b@c.org.", "Write to a dot b at c dot org."),
    ("http://x.io/page-2", "x dot io slash page dash two"),
    # symbols
    ("Tom & Jerry", "Tom and Jerry"),
    ("2 + 2 = 4", "two plus two equals four"),
    ("#1 hit", "number one hit"),
    ("#tagged", "hashtag tagged"),
    ("@john", "at john"),
    ("AT&T and C++", "AT&T and C++"),
    # text left alone
    ("Hello there, how are you?", "Hello there, how are you?"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "spoken"), CASES, ids=[c[0][:40] or "empty" for c in CASES])
def test_english(text: str, spoken: str) -> None:
    assert normalize(text, "en_US").spoken == spoken


@pytest.mark.parametrize("language", ["en", "en_US", "en-us", "en_GB", "EN"])
def test_language_codes_choose_english(language: str) -> None:
    assert normalize("$5", language).spoken == "five dollars"
