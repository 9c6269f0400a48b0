"""How fast and how well sanctions/PEP name screening finds planted matches.

Generates, deterministically (seeded), 50,000 list entries and 100,000 clients, then re-screens all
clients against all entries with ``kyc.screening.Screener`` (the index built once, timed apart, then
``screen_many`` on ``PROCESSES`` forked processes) and checks the hits against what was planted. No
database: ``run()`` only needs the Python packages (it is called after Django's setup all the same).

The names come from Faker's per-locale name lists (its data only; every choice is this module's own
seeded ``random``): Russian, Ukrainian and Bulgarian in Cyrillic, Greek, Arabic and Persian in Arabic
script, Japanese (romaji and kana), Chinese (Wade-Giles; given names made of one or two of the
syllables Faker's names use), Pakistani, Indian, Turkish, Azerbaijani, Vietnamese, Spanish,
Portuguese, Polish, German, French, Italian, British and American names: some 17,700 given names
and 12,000 surnames. Each pool is drawn with the weights Faker gives or, shuffled, with mildly Zipf-like
ones, so some names are common and clients share names with list entries by chance. Names in a
non-Latin script get their Latin forms from this module's own romanisation tables, several systems
each and independent of the matcher's anyascii: BGN-like, passport, German, French and informal for
Cyrillic; ELOT, phonetic and classical for Greek; English, Levantine and French for Arabic script
(its short vowels unwritten: one guess per word, written as each system writes it).

List entries: a Latin primary name (a third of them "SURNAME, Given Names", as OFAC writes them),
aliases (the native script, another romanisation, the name without diacritics, another surname),
dates of birth (47% full, 17% year only, 8% year and month, 13% two possible years, 15% none) and
countries (none for 10%).

Clients: PLANTED of them are variants of distinct list entries, each made by one or two of
    typo            one edit, or two in a name of ten letters or more (in two different words, or
                    in one of eight letters or more): substitution, insertion, deletion or
                    transposition of neighbours
    reorder         surname first, or the parts of the name shuffled
    translit        another romanisation of a non-Latin name, or the native script itself
    diacritics      diacritics stripped (or German umlauts spelled out)
    missing_middle  a patronymic, middle name, father's name or second surname left out
    noise           honorific, capitals, "SURNAME, Given"
with a date of birth for 65% (the entry's, or a full date within it; 3% with day and month swapped,
2% a year off) and a country for 70% (15% of these not among the entry's). The other clients are
random people of a broker-like mix of origins, with a date of birth (98%: a regulated broker's
KYC has it) and a country (95%). A planted client is found when its entry is among its hits.

The screener counts the clients' names with the list's for the tokens' frequencies (as the
application does with its client base).

Goal: index + screening within 60 s on this 2-core machine (the load average is printed beside:
the machine may be shared), recall >= 98% on the planted matches, and at most 2% of the other
clients flagged, and at most 5% of those of any origin. False positives are counted: hits on
clients that were not planted (split into exact namesakes, whose normalised name is one of the
entry's, which any screener flags, and fuzzy ones),
and hits of planted clients on other entries. Then, from the same hits, recall and the share of
clients flagged at higher thresholds (what the threshold trades), how many names blocking puts
before each client, and for the missed matches where they were lost (blocking, the C++ filter,
the threshold). If nomenklatura is installed (it is not a dependency of the project), OpenSanctions'
own matcher (logic-v2) is run beside on a sample of the same clients, for reference.

    python -m bench screening [--quick]
    python -m bench.screening [--quick] [--threshold T] [--processes N] [--false-positives N [--origin CODE]]
"""

# ruff: noqa: RUF001  (romanisation tables: Cyrillic, Greek and Arabic letters that look like Latin ones)
from __future__ import annotations

import argparse
import importlib
import os
import random
import statistics
import sys
import time
import unicodedata
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kyc.screening.matcher import Candidate, Hit, ListEntry, Screener

TITLE = "screening: fuzzy name screening of 100,000 clients against 50,000 sanctions/PEP list entries"

ENTRIES, CLIENTS, PLANTED = 50_000, 100_000, 2_000
QUICK_DIVISOR = 10
GOAL_SECONDS = 60.0
GOAL_RECALL = 0.98
GOAL_FLAGGED = 0.02  # of the clients that were not planted, flagged by at least one hit
GOAL_FLAGGED_ORIGIN = 0.05  # ... and of those of each origin
REFERENCE_PLANTED, REFERENCE_CLEAN = 500, 2_500  # clients sampled for the reference matcher
REFERENCE_THRESHOLD = 0.7  # yente's default for a match
SEED = 20_260_301
PROCESSES = max(1, min(2, os.cpu_count() or 1))
SAMPLE = 2_000  # clients whose blocks are measured for the blocking figures
DATASETS = ("us_ofac_sdn", "eu_fsf", "un_sc_sanctions", "gb_hmt_sanctions", "ch_seco_sanctions", "peps")
KINDS = ("typo", "reorder", "translit", "diacritics", "missing_middle", "noise")
KIND_WEIGHTS = (28, 15, 22, 8, 17, 10)


# --- name pools ---------------------------------------------------------------------------------------


@dataclass
class Pool:
    """Names drawn with weights: the given ones, or Zipf-like over a seeded shuffle."""

    names: list[Any]
    cum: list[float]

    @classmethod
    def of(cls, source: Sequence[Any] | dict[Any, float], rng: random.Random) -> Pool:
        if isinstance(source, dict):
            names = list(source)
            weights = [float(w) for w in source.values()]
        else:
            names = list(dict.fromkeys(source))
            rng.shuffle(names)
            weights = [1.0 / (rank + 20) ** 0.5 for rank in range(len(names))]
        cum, total = [], 0.0
        for w in weights:
            total += w
            cum.append(total)
        return cls(names, cum)

    def draw(self, rng: random.Random) -> Any:
        return rng.choices(self.names, cum_weights=self.cum)[0]

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class Culture:
    code: str
    script: str  # latin, cyrillic, greek, arabic, kana
    countries: tuple[str, ...]
    entry_weight: float
    client_weight: float
    first: dict[str, Pool]  # by gender "m"/"f"
    last: dict[str, Pool]
    middle: dict[str, Pool] = field(default_factory=dict)
    middle_kind: str = ""  # patronymic, given, surname2, father
    middle_share: float = 0.0
    surname_first: bool = False  # the native order puts the surname first


def _attr(locale: str, name: str) -> Any:
    return getattr(importlib.import_module(f"faker.providers.person.{locale}").Provider, name)


def _cultures(rng: random.Random) -> list[Culture]:
    def pool(locale: str, *names: str) -> Pool:
        values: list[Any] = []
        for name in names:
            source = _attr(locale, name)
            if isinstance(source, dict) and len(names) == 1:
                return Pool.of(source, rng)
            values += list(source)
        return Pool.of(values, rng)

    def mf(locale: str, male: str, female: str) -> dict[str, Pool]:
        return {"m": pool(locale, male), "f": pool(locale, female)}

    def same(p: Pool) -> dict[str, Pool]:
        return {"m": p, "f": p}

    ja_first = {"m": Pool.of(list(_attr("ja_JP", "first_name_male_pairs")), rng)}
    ja_first["f"] = Pool.of(list(_attr("ja_JP", "first_name_female_pairs")), rng)
    pl_last = pool("pl_PL", "male_last_names", "unisex_last_names")
    # Chinese given names: one or two syllables of those Faker's Taiwanese given names use (Faker has
    # a few hundred whole given names; real ones are far more varied).
    syllables = [
        part
        for gender in ("male", "female")
        for name in _attr("zh_TW", f"first_romanized_names_{gender}")
        for part in name.split("-")
    ]
    syllable_pool = Pool.of(syllables, rng)
    zh_given = Pool.of(
        list(
            dict.fromkeys(
                f"{syllable_pool.draw(rng)}-{syllable_pool.draw(rng)}"
                if rng.random() < 0.92
                else syllable_pool.draw(rng)
                for _ in range(20_000)
            )
        ),
        rng,
    )
    zh_first = {"m": zh_given, "f": zh_given}
    # Persian given names, with the Arabic ones much used in Iran.
    fa_first = {
        "m": Pool.of([*_attr("fa_IR", "first_names_male"), *_attr("ar_AA", "first_names_male")], rng),
        "f": pool("fa_IR", "first_names_female"),
    }
    # fmt: off
    return [
        Culture("ru", "cyrillic", ("ru", "by", "kz"), 13, 7, mf("ru_RU", "first_names_male", "first_names_female"),
                mf("ru_RU", "last_names_male", "last_names_female"),
                mf("ru_RU", "middle_names_male", "middle_names_female"), "patronymic", 0.75),
        Culture("uk", "cyrillic", ("ua",), 5, 4, mf("uk_UA", "first_names_male", "first_names_female"),
                mf("uk_UA", "last_names_male", "last_names_female"),
                mf("uk_UA", "middle_names_male", "middle_names_female"), "patronymic", 0.6),
        Culture("bg", "cyrillic", ("bg",), 2, 2, mf("bg_BG", "first_names_male", "first_names_female"),
                mf("bg_BG", "last_names_male", "last_names_female"), {}, "father", 0.5),
        Culture("el", "greek", ("gr", "cy"), 2, 3, mf("el_GR", "first_names_male", "first_names_female"),
                mf("el_GR", "last_names_male", "last_names_female"), {}, "given", 0.15),
        Culture("ar", "arabic", ("sy", "iq", "ly", "ye", "sa", "ae", "lb", "eg", "sd"), 14, 7,
                mf("ar_AA", "first_names_male", "first_names_female"), same(pool("ar_AA", "last_names")), {},
                "father", 0.6),
        Culture("fa", "arabic", ("ir",), 5, 2, fa_first,
                same(pool("fa_IR", "last_names")), {}, "given", 0.1),
        Culture("pk", "latin", ("pk", "af"), 6, 4, same(pool("en_PK", "first_names")), same(pool("en_PK", "last_names")),
                {}, "given", 0.3),
        Culture("in", "latin", ("in",), 3, 4, mf("en_IN", "first_names_male", "first_names_female"),
                same(pool("en_IN", "last_names")), {}, "given", 0.2),
        Culture("tr", "latin", ("tr",), 3, 4, mf("tr_TR", "first_names_male", "first_names_female"),
                same(pool("tr_TR", "last_names")), {}, "given", 0.25),
        Culture("az", "latin", ("az",), 2, 1, mf("az_AZ", "first_names_male", "first_names_female"),
                mf("az_AZ", "last_names_male", "last_names_female"), {}, "given", 0.1),
        Culture("zh", "latin", ("cn", "tw", "hk"), 6, 6, zh_first, same(pool("zh_TW", "last_romanized_names")),
                surname_first=True),
        Culture("ja", "kana", ("jp",), 0.5, 1, ja_first, same(Pool.of(list(_attr("ja_JP", "last_name_pairs")), rng)),
                surname_first=True),
        Culture("vi", "latin", ("vn",), 1, 1.5, {"m": pool("vi_VN", "first_names_male", "first_names_unisex"),
                "f": pool("vi_VN", "first_names_female", "first_names_unisex")}, same(pool("vi_VN", "last_names")),
                same(pool("vi_VN", "middle_names")), "given", 0.9, surname_first=True),
        Culture("es", "latin", ("es", "mx", "co", "ve", "ar", "cu"), 8, 8,
                mf("es_ES", "first_names_male", "first_names_female"), same(pool("es_ES", "last_names")), {},
                "surname2", 0.8),
        Culture("pt", "latin", ("br", "pt"), 2, 3, mf("pt_BR", "first_names_male", "first_names_female"),
                same(pool("pt_BR", "last_names")), {}, "surname2", 0.6),
        Culture("pl", "latin", ("pl",), 3, 5, mf("pl_PL", "first_names_male", "first_names_female"),
                same(pl_last), {}, "given", 0.1),
        Culture("de", "latin", ("de", "at", "ch"), 4, 8, mf("de_DE", "first_names_male", "first_names_female"),
                same(pool("de_DE", "last_names")), {}, "given", 0.3),
        Culture("fr", "latin", ("fr", "be", "ch"), 4, 6, mf("fr_FR", "first_names_male", "first_names_female"),
                same(pool("fr_FR", "last_names")), {}, "given", 0.3),
        Culture("it", "latin", ("it",), 3, 5, mf("it_IT", "first_names_male", "first_names_female"),
                same(pool("it_IT", "last_names")), {}, "given", 0.2),
        Culture("us", "latin", ("us",), 6, 10, mf("en_US", "first_names_male", "first_names_female"),
                same(pool("en_US", "last_names")), {}, "given", 0.4),
        Culture("gb", "latin", ("gb", "ie"), 4, 8, mf("en_GB", "first_names_male", "first_names_female"),
                same(pool("en_GB", "last_names")), {}, "given", 0.3),
    ]
    # fmt: on


# --- romanisation (the benchmark's own, independent of the matcher's anyascii) ------------------------------

_CYR = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g", "'": "", "’": "",
}  # fmt: skip
_CYR_SYSTEMS: dict[str, dict[str, str]] = {
    "bgn": {"ё": "yo", "ий": "iy", "ый": "yy", "^е": "ye"},
    "passport": {"й": "i", "ю": "iu", "я": "ia", "ъ": "ie", "ий": "ii", "ый": "y"},
    "german": {"в": "w", "ж": "sch", "з": "s", "х": "ch", "ц": "z", "ч": "tsch", "ш": "sch", "щ": "schtsch",
               "й": "j", "ю": "ju", "я": "ja", "ё": "jo", "є": "je", "ї": "ji", "ий": "ij", "^е": "je"},
    "french": {"ж": "j", "ч": "tch", "ш": "ch", "щ": "chtch", "у": "ou", "й": "i", "ю": "iou", "я": "ia",
               "ё": "io", "ий": "i", "х": "kh"},
    "informal": {"х": "h", "ц": "tz", "й": "i", "ы": "i", "ё": "yo", "щ": "sch", "ий": "y", "ья": "ia"},
}  # fmt: skip
_CYR_CULTURE = {"uk": {"г": "h", "и": "y"}, "bg": {"ъ": "a", "щ": "sht"}}

_GREEK = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th", "ι": "i", "κ": "k",
    "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p", "ρ": "r", "σ": "s", "ς": "s", "τ": "t",
    "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps", "ω": "o",
}  # fmt: skip
_GREEK_SYSTEMS: dict[str, dict[str, str]] = {
    "elot": {"ου": "ou", "αι": "ai", "ει": "ei", "οι": "oi", "μπ": "mp", "ντ": "nt", "γγ": "ng", "γκ": "gk",
             "αυ": "av", "ευ": "ev"},
    "phonetic": {"ου": "ou", "αι": "e", "ει": "i", "οι": "i", "μπ": "b", "ντ": "d", "γγ": "ng", "γκ": "g",
                 "αυ": "af", "ευ": "ef", "υ": "i", "χ": "h", "ξ": "ks"},
    "classical": {"ου": "ou", "αι": "ae", "ει": "ei", "οι": "oe", "μπ": "mp", "ντ": "nt", "γγ": "ng",
                  "γκ": "nk", "αυ": "au", "ευ": "eu", "β": "b", "η": "e", "χ": "kh", "κ": "c"},
}  # fmt: skip

_ARABIC_CONS = {
    "ب": "b", "ت": "t", "ث": "th", "ج": "j", "ح": "h", "خ": "kh", "د": "d", "ذ": "dh", "ر": "r", "ز": "z",
    "س": "s", "ش": "sh", "ص": "s", "ض": "d", "ط": "t", "ظ": "z", "ع": "'", "غ": "gh", "ف": "f", "ق": "q",
    "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h", "ء": "", "ئ": "'", "ؤ": "'", "پ": "p", "چ": "ch",
    "ژ": "zh", "گ": "g", "ک": "k", "ة": "a",
}  # fmt: skip
_ARABIC_LONG = {"ا": "a", "آ": "a", "أ": "a", "إ": "i", "ى": "a", "و": "u", "ي": "i", "ی": "i"}
_ARABIC_SYSTEMS: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    # letters written otherwise, how the short vowels a/i/u are written, the article
    "english": ({"ي": "ee", "و": "oo", "ة": "ah"}, {"a": "a", "i": "i", "u": "u"}, "al-"),
    "levantine": ({"ق": "k", "ذ": "z", "ث": "s", "ع": "", "و": "ou", "ظ": "z"}, {"a": "a", "i": "e", "u": "o"}, "el-"),
    "french": ({"ج": "dj", "ش": "ch", "و": "ou", "خ": "kh", "ع": ""}, {"a": "a", "i": "i", "u": "ou"}, "al "),
}
_ARABIC_MARKS = {chr(c) for c in range(0x064B, 0x0653)}  # harakat, shadda among them
_SHADDA = "\u0651"

_LATIN_STRIP = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ı": "i", "ß": "ss",
                              "æ": "ae", "œ": "oe", "ə": "a", "Ə": "A"})  # fmt: skip
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})


def strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_LATIN_STRIP))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _title(text: str) -> str:
    return " ".join(t[:1].upper() + t[1:] for t in text.split(" "))


def romanise_cyrillic(word: str, system: str, culture: str) -> str:
    table = {**_CYR, **_CYR_CULTURE.get(culture, {}), **_CYR_SYSTEMS[system]}
    word = word.lower()
    out, i = [], 0
    while i < len(word):
        if i == 0 and "^" + word[0] in table:
            out.append(table["^" + word[0]])
            i += 1
        elif word[i : i + 2] in table:
            out.append(table[word[i : i + 2]])
            i += 2
        else:
            out.append(table.get(word[i], word[i]))
            i += 1
    return _title("".join(out))


def romanise_greek(word: str, system: str) -> str:
    table = {**_GREEK, **_GREEK_SYSTEMS[system]}
    word = strip_diacritics(word.lower())
    out, i = [], 0
    while i < len(word):
        if word[i : i + 2] in table:
            out.append(table[word[i : i + 2]])
            i += 2
        else:
            out.append(table.get(word[i], word[i]))
            i += 1
    return _title("".join(out))


def _vocalisation(token: str) -> list[str]:
    """The short vowels of an Arabic-script word (which does not write them): guessed, but the same
    guess for every romanisation system, as the name is pronounced one way."""
    rng = random.Random(zlib.crc32(token.encode()))
    return rng.choices(("a", "i", "u", ""), (55, 18, 17, 10), k=len(token))


def romanise_arabic(word: str, system: str) -> str:
    overrides, short_vowels, article = _ARABIC_SYSTEMS[system]
    cons = {**_ARABIC_CONS, **{k: v for k, v in overrides.items() if k in _ARABIC_CONS}}
    longs = {**_ARABIC_LONG, **{k: v for k, v in overrides.items() if k in _ARABIC_LONG}}
    parts = []
    for token in word.split():
        prefix = ""
        if token.startswith("ال") and len(token) > 3:
            prefix, token = article, token[2:]
        units: list[tuple[str, str]] = []  # (kind, latin): C consonant, V long vowel
        for i, ch in enumerate(token):
            if ch == _SHADDA and units and units[-1][0] == "C":
                units[-1] = ("C", units[-1][1] * 2)
            elif ch in _ARABIC_MARKS:
                continue
            elif ch in ("و", "ي", "ی") and (i == 0 or token[i - 1] in "اآأ"):
                units.append(("C", "w" if ch == "و" else "y"))
            elif ch in longs:
                units.append(("V", longs[ch]))
            elif ch in cons:
                units.append(("C", cons[ch]))
        vowels = _vocalisation(token)
        out = []
        for i, (kind, latin) in enumerate(units):
            out.append(latin)
            if kind == "C" and i + 1 < len(units) and units[i + 1][0] == "C":
                out.append(short_vowels.get(vowels[i], ""))
        text = "".join(out).strip("'")
        if text:
            parts.append(prefix + text)
    return _title(" ".join(parts)).replace("Al-", "al-").replace("El-", "el-")


# --- people, entries and clients --------------------------------------------------------------------------


@dataclass
class Person:
    culture: Culture
    gender: str
    first: Any  # a str, or for Japanese a (kanji, kana, romaji) tuple
    middle: str | None
    last: Any

    def native_tokens(self, *, with_middle: bool = True) -> list[str]:
        first, last = self.first, self.last
        if self.culture.script == "kana":
            first, last = first[1], last[1]
        tokens = [first, self.middle, last] if with_middle and self.middle else [first, last]
        if self.culture.surname_first:
            tokens = [tokens[-1], *tokens[:-1]]
        return [t for t in tokens if t]

    def latin(self, system: str, rng: random.Random, *, with_middle: bool = True) -> str:
        return " ".join(self.latin_parts(system, rng, with_middle=with_middle))

    def latin_parts(self, system: str, rng: random.Random, *, with_middle: bool = True) -> list[str]:
        """The name's parts (given name, middle name, surname, each possibly of several words) in
        Latin letters, in the culture's order."""
        script = self.culture.script
        if script == "kana":
            first, last = self.first[2], self.last[2]
            if system == "wapuro":
                from anyascii import anyascii

                first, last = _title(anyascii(self.first[1])), _title(anyascii(self.last[1]))
            elif system == "passport":
                first, last = _long_oh(first, self.first[1]), _long_oh(last, self.last[1])
            return [last, first] if rng.random() < 0.5 else [first, last]
        tokens = self.native_tokens(with_middle=with_middle)
        if script == "cyrillic":
            return [romanise_cyrillic(t, system, self.culture.code) for t in tokens]
        if script == "greek":
            return [romanise_greek(t, system) for t in tokens]
        if script == "arabic":
            return [romanise_arabic(t, system) for t in tokens]
        if self.culture.code == "zh":
            return [_zh(t, system) for t in tokens]
        return tokens

    def native(self, *, with_middle: bool = True) -> str:
        return " ".join(self.native_tokens(with_middle=with_middle))


def _long_oh(romaji: str, kana: str) -> str:
    return romaji + "h" if kana.endswith("ウ") and romaji.endswith("o") else romaji


def _zh(token: str, system: str) -> str:
    """Wade-Giles as Faker gives it (CHIA-HAO), hyphenated, run together or spaced."""
    token = token.title()
    if system == "joined":
        return token.replace("-", "").title()
    if system == "spaced":
        return token.replace("-", " ")
    return token


SYSTEMS = {
    "cyrillic": ("bgn", "passport", "german", "french", "informal"),
    "greek": ("elot", "phonetic", "classical"),
    "arabic": ("english", "levantine", "french"),
    "kana": ("hepburn", "wapuro", "passport"),
    "latin": ("hyphen", "joined", "spaced"),
}


def make_person(rng: random.Random, culture: Culture, *, middle_share: float | None = None) -> Person:
    gender = "m" if rng.random() < 0.7 else "f"
    first = culture.first[gender].draw(rng)
    last = culture.last[gender].draw(rng)
    if culture.code == "pl" and gender == "f" and last.endswith("ki"):
        last = last[:-1] + "a"
    middle = None
    share = culture.middle_share if middle_share is None else middle_share
    if culture.middle_kind and rng.random() < share:
        kind = culture.middle_kind
        if kind == "patronymic":
            middle = culture.middle[gender].draw(rng)
        elif kind == "father":
            father = culture.first["m"].draw(rng)
            middle = father + ("ов" if gender == "m" else "ова") if culture.code == "bg" else father
        elif kind == "surname2":
            middle = culture.last[gender].draw(rng)
        elif culture.middle:
            middle = culture.middle[gender].draw(rng)
        else:
            middle = culture.first[gender].draw(rng)
        if middle == first or middle == last:
            middle = None
    if culture.middle_kind == "surname2" and middle:  # Spanish order: given paternal maternal
        return Person(culture, gender, first, last, middle)
    return Person(culture, gender, first, middle, last)


def _ofac(name: str, culture: Culture) -> str:
    """SURNAME, Given Names."""
    tokens = name.split(" ")
    if len(tokens) < 2:
        return name
    if culture.surname_first:
        return f"{tokens[0].upper()}, {' '.join(tokens[1:])}"
    if culture.middle_kind == "surname2" and len(tokens) >= 3:
        return f"{' '.join(tokens[-2:]).upper()}, {' '.join(tokens[:-2])}"
    return f"{tokens[-1].upper()}, {' '.join(tokens[:-1])}"


def _date(rng: random.Random, lo: int, hi: int) -> str:
    return f"{rng.randint(lo, hi)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def make_entry(rng: random.Random, number: int, person: Person) -> ListEntry:
    from kyc.screening.matcher import ListEntry

    culture = person.culture
    systems = SYSTEMS[culture.script]
    primary = person.latin(systems[0], rng)
    names = [_ofac(primary, culture) if rng.random() < 0.33 else primary]
    if culture.script in ("cyrillic", "greek", "arabic", "kana"):
        if rng.random() < 0.7:
            names.append(person.native())
        if rng.random() < 0.3:
            names.append(person.latin(rng.choice(systems[1:]), rng))
    else:
        stripped = strip_diacritics(primary)
        if stripped != primary and rng.random() < 0.5:
            names.append(stripped)
    if rng.random() < 0.15:  # also known as: another surname
        other = make_person(rng, culture)
        other.first, other.middle = person.first, person.middle
        names.append(other.latin(systems[0], rng))
    dates: list[str] = []
    r = rng.random()
    if r < 0.47:
        dates = [_date(rng, 1940, 1995)]
    elif r < 0.64:
        dates = [_date(rng, 1940, 1995)[:4]]
    elif r < 0.72:
        dates = [_date(rng, 1940, 1995)[:7]]
    elif r < 0.85:
        year = rng.randint(1940, 1994)
        dates = [str(year), str(year + 1)]
    countries = list(rng.sample(culture.countries, min(len(culture.countries), rng.choice((1, 1, 1, 2)))))
    if rng.random() < 0.1:
        countries = []
    return ListEntry(
        entry_id=f"E{number:06d}",
        names=names,
        birth_dates=dates,
        countries=countries,
        schema="Person",
        datasets=rng.choice(DATASETS),
    )


def typo(rng: random.Random, name: str, edits: int) -> str:
    """``edits`` random edits of the letters: substitution, deletion, insertion or transposition of
    neighbours. Two edits fall in two different words, or in one word of eight letters or more (two
    slips in one short word leave little of it: "Jackson" to "Acksoa")."""
    words = name.split(" ")
    lengths = [sum(c.isalpha() for c in w) for w in words]
    choices = [i for i, n in enumerate(lengths) if n >= 2]
    if not choices:
        return name
    first = rng.choices(choices, [lengths[i] for i in choices])[0]
    targets = [first]
    if edits >= 2:
        others = [i for i in choices if i != first or lengths[i] >= 8]
        if others:
            targets.append(rng.choices(others, [lengths[i] for i in others])[0])
    for i in targets:
        words[i] = _edit(rng, words[i])
    return " ".join(words)


def _edit(rng: random.Random, word: str) -> str:
    chars = list(word)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    i = rng.choice(letters)
    op = rng.random()
    letter = rng.choice("abcdefghijklmnoprstuvyz")
    if chars[i].isupper():
        letter = letter.upper()
    if op < 0.35:
        chars[i] = letter if letter.lower() != chars[i].lower() else chr(ord("a") + (ord(letter.lower()) - 96) % 26)
    elif op < 0.6:
        del chars[i]
    elif op < 0.8:
        chars.insert(i, letter)
    elif i + 1 < len(chars) and chars[i + 1].isalpha() and chars[i + 1] != chars[i]:
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    else:
        del chars[i]
    return "".join(chars)


@dataclass
class Planted:
    client_id: str
    entry_id: str
    kinds: tuple[str, ...]


def plant(rng: random.Random, person: Person, entry: ListEntry) -> tuple[str, tuple[str, ...]]:
    """A variant of the entry's person, as a client would give the name."""
    culture = person.culture
    script = culture.script
    non_latin = script != "latin"
    has_diacritics = not non_latin and strip_diacritics(person.native()) != person.native()
    count = 1 if rng.random() < 0.7 else 2
    kinds: list[str] = []
    while len(kinds) < count:
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        if kind == "translit" and not non_latin and culture.code != "zh":
            kind = "diacritics" if has_diacritics else "typo"
        if kind == "diacritics" and not has_diacritics:
            kind = "translit" if non_latin else "typo"
        if kind == "missing_middle" and not person.middle:
            kind = "reorder"
        if kind not in kinds:
            kinds.append(kind)
    with_middle = "missing_middle" not in kinds
    systems = SYSTEMS[script]
    native_script = False
    if "translit" in kinds:
        if non_latin and script != "kana" and rng.random() < 0.25:
            parts = person.native_tokens(with_middle=with_middle)
            native_script = True
        else:
            parts = person.latin_parts(rng.choice(systems[1:]), rng, with_middle=with_middle)
    else:
        parts = person.latin_parts(systems[0], rng, with_middle=with_middle)
        if "diacritics" in kinds:
            umlauts = culture.code == "de" and rng.random() < 0.5
            parts = [p.translate(_UMLAUTS) if umlauts else strip_diacritics(p) for p in parts]
    if "reorder" in kinds:  # the parts move, a given name of two words stays one
        if len(parts) >= 3 and rng.random() < 0.3:
            rng.shuffle(parts)
        else:
            parts = [parts[-1], *parts[:-1]] if not culture.surname_first else [*parts[1:], parts[0]]
    noise = rng.random() if "noise" in kinds else None
    if noise is not None and noise >= 0.7 and len(parts) > 1:
        parts = [f"{parts[-1]},", *parts[:-1]]
    name = " ".join(parts)
    if "typo" in kinds and not native_script:
        letters = sum(c.isalpha() for c in name)
        name = typo(rng, name, 1 if letters < 10 else rng.choice((1, 2)))
    if noise is not None and noise < 0.4:
        honorific = rng.choice(("Mr", "Mr.", "Dr", "Dr.", "Sheikh", "Mrs")) if person.gender == "m" else "Mrs"
        name = f"{honorific} {name}"
    elif noise is not None and noise < 0.7:
        name = name.upper()
    return name, tuple(kinds)


def planted_dob(rng: random.Random, entry: ListEntry) -> str | None:
    if rng.random() >= 0.65:
        return None
    if not entry.birth_dates:
        return _date(rng, 1940, 2000)
    date = rng.choice(entry.birth_dates)
    year = int(date[:4])
    month = int(date[5:7]) if len(date) >= 7 else rng.randint(1, 12)
    day = int(date[8:10]) if len(date) >= 10 else rng.randint(1, 28)
    r = rng.random()
    if r < 0.03 and day <= 12:
        month, day = day, month
    elif r < 0.05:
        year += rng.choice((-1, 1))
    return f"{year}-{month:02d}-{day:02d}"


@dataclass
class Data:
    entries: list[ListEntry]
    clients: list[Candidate]
    planted: dict[str, Planted]  # by client id
    origins: dict[str, str]  # culture code by client id
    seconds: float = 0.0


def generate(*, entries: int, clients: int, planted: int, seed: int = SEED) -> Data:
    from kyc.screening.matcher import Candidate

    started = time.monotonic()
    rng = random.Random(seed)
    cultures = _cultures(rng)
    entry_weights = [c.entry_weight for c in cultures]
    client_weights = [c.client_weight for c in cultures]
    people: list[Person] = []
    list_entries: list[ListEntry] = []
    for number in range(entries):
        person = make_person(rng, rng.choices(cultures, entry_weights)[0])
        people.append(person)
        list_entries.append(make_entry(rng, number, person))

    planted_at = set(rng.sample(range(clients), planted))
    sources = iter(rng.sample(range(entries), planted))
    client_list: list[Candidate] = []
    truth: dict[str, Planted] = {}
    origins: dict[str, str] = {}
    for number in range(clients):
        client_id = f"C{number:06d}"
        if number in planted_at:
            source = next(sources)
            entry, person = list_entries[source], people[source]
            name, kinds = plant(rng, person, entry)
            country = None
            if rng.random() < 0.7:
                country = (
                    rng.choice(entry.countries)
                    if entry.countries and rng.random() < 0.85
                    else rng.choice(rng.choice(cultures).countries)
                )
            client_list.append(Candidate(client_id, name, planted_dob(rng, entry), country))
            truth[client_id] = Planted(client_id, entry.entry_id, kinds)
            origins[client_id] = person.culture.code
            continue
        culture = rng.choices(cultures, client_weights)[0]
        person = make_person(rng, culture, middle_share=culture.middle_share * 0.6)
        script = culture.script
        if script in ("cyrillic", "greek", "arabic") and rng.random() < 0.1:
            name = person.native()
        else:
            name = person.latin(rng.choice(SYSTEMS[script]), rng)
        # A broker's client file has the date of birth (KYC) and, mostly, a nationality or residence.
        dob = _date(rng, 1940, 2005) if rng.random() < 0.98 else None
        country = rng.choice(culture.countries) if rng.random() < 0.95 else None
        client_list.append(Candidate(client_id, name, dob, country))
        origins[client_id] = culture.code
    return Data(list_entries, client_list, truth, origins, time.monotonic() - started)


# --- the run ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    build_seconds: float
    screen_seconds: float
    hits: dict[str, list[Hit]]


def screen_all(data: Data, *, threshold: float | None, processes: int) -> tuple[Screener, Outcome]:
    from kyc.screening.matcher import DEFAULT_THRESHOLD, Screener

    started = time.monotonic()
    screener = Screener(
        data.entries,
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        population=(c.name for c in data.clients),
    )
    built = time.monotonic()
    hits: dict[str, list[Hit]] = defaultdict(list)
    for hit in screener.screen_many(data.clients, processes=processes):
        hits[hit.client_id].append(hit)
    done = time.monotonic()
    return screener, Outcome(built - started, done - built, hits)


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "n/a"


def run(
    *,
    quick: bool = False,
    threshold: float | None = None,
    processes: int = PROCESSES,
    false_positives: int = 0,
    origin: str | None = None,
) -> bool:
    from kyc.screening.matcher import normalise

    divisor = QUICK_DIVISOR if quick else 1
    n_entries, n_clients, n_planted = ENTRIES // divisor, CLIENTS // divisor, PLANTED // divisor
    data = generate(entries=n_entries, clients=n_clients, planted=n_planted)
    name_count = sum(len(e.names) for e in data.entries)
    print(
        f"generated {n_entries:,} list entries ({name_count:,} names and aliases) and {n_clients:,} clients"
        f" ({n_planted:,} planted matches) in {data.seconds:.1f} s (seed {SEED})",
        flush=True,
    )

    screener, outcome = screen_all(data, threshold=threshold, processes=processes)
    total_seconds = outcome.build_seconds + outcome.screen_seconds
    print(
        f"index: built in {outcome.build_seconds:.1f} s: {screener.record_count:,} distinct names,"
        f" {screener.key_count:,} blocking keys"
    )
    print(
        f"screening: {n_clients:,} clients in {outcome.screen_seconds:.1f} s"
        f" ({n_clients / outcome.screen_seconds:,.0f} clients/s on {processes} process(es)),"
        f" threshold {screener.threshold:g}"
    )
    print(f"index + screening: {total_seconds:.1f} s")

    # Recall on the planted matches.
    found = 0
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed: list[Planted] = []
    wrong_entry_hits = 0
    for client_id, truth in data.planted.items():
        got = outcome.hits.get(client_id, [])
        ok = any(h.entry_id == truth.entry_id for h in got)
        found += ok
        wrong_entry_hits += sum(h.entry_id != truth.entry_id for h in got)
        for kind in truth.kinds:
            by_kind[kind][0] += ok
            by_kind[kind][1] += 1
        if not ok:
            missed.append(truth)
    recall = found / len(data.planted)
    print(
        f"recall: {found:,}/{len(data.planted):,} planted matches found = {100 * recall:.2f}%; by variant: "
        + ", ".join(f"{k} {_pct(v[0], v[1])} of {v[1]}" for k, v in sorted(by_kind.items()))
    )

    # False positives.
    entries_by_id = {e.entry_id: e for e in data.entries}
    clients_by_id = {c.client_id: c for c in data.clients}
    normalised_names = {e.entry_id: {normalise(n) for n in e.names} for e in data.entries}
    fp_hits = fp_exact = 0
    fp_clients: set[str] = set()
    fp_scores: list[float] = []
    fuzzy_examples: list[tuple[Candidate, Hit]] = []
    for client_id, got in outcome.hits.items():
        if client_id in data.planted:
            continue
        client = clients_by_id[client_id]
        own = normalise(client.name)
        fp_clients.add(client_id)
        for hit in got:
            fp_hits += 1
            fp_scores.append(hit.score)
            if own in normalised_names[hit.entry_id]:
                fp_exact += 1
            elif len(fuzzy_examples) < 8:
                fuzzy_examples.append((client, hit))
    others = n_clients - n_planted
    print(
        f"false positives: {fp_hits:,} hits on {len(fp_clients):,} of {others:,} clients that were not planted"
        f" ({_pct(len(fp_clients), others)} of them), of which {fp_exact:,} hits on an exact namesake"
        f" (same normalised name) and {fp_hits - fp_exact:,} fuzzy;"
        f" planted clients: {wrong_entry_hits:,} hits on other entries"
    )
    clients_by_origin = Counter(data.origins[c.client_id] for c in data.clients if c.client_id not in data.planted)
    flagged_by_origin = Counter(data.origins[c] for c in fp_clients)
    print(
        "  clients flagged by origin: "
        + ", ".join(
            f"{code} {_pct(n, clients_by_origin[code])}"
            for code, n in sorted(flagged_by_origin.items(), key=lambda x: -x[1] / clients_by_origin[x[0]])
        )
    )
    if fp_scores:
        print(
            f"  scores of those hits: median {statistics.median(fp_scores):.1f}, "
            + ", ".join(f">= {t}: {sum(s >= t for s in fp_scores):,}" for t in (90, 95, 100))
        )
    for client, hit in fuzzy_examples[:5]:
        print(
            f"  e.g. client {client.name!r} ({client.birth_date}, {client.country}) ~ {hit.matched_name!r}"
            f" score {hit.score} (name {hit.name_score}, dob {hit.dob_match}, country {hit.country_match})"
        )

    if false_positives:
        show_false_positives(data, screener, outcome, count=false_positives, origin=origin)

    # What the threshold trades: recall against false positives, from the hits above the one used.
    steps = [t for t in (70, 75, 78, 80, 82, 84, 85, 86, 88, 90, 92, 95) if t >= screener.threshold]
    if steps:
        cells = []
        for t in steps:
            rec = sum(
                any(h.entry_id == truth.entry_id and h.score >= t for h in outcome.hits.get(cid, []))
                for cid, truth in data.planted.items()
            )
            flagged = sum(
                any(h.score >= t for h in got) for cid, got in outcome.hits.items() if cid not in data.planted
            )
            cells.append(f"{t:g}: recall {_pct(rec, len(data.planted))}, clients flagged {_pct(flagged, others)}")
        print("by threshold: " + "; ".join(cells))

    # Blocking: how many names each client is compared with.
    sample = random.Random(SEED + 1).sample(data.clients, min(SAMPLE, n_clients))
    funnels = [screener.funnel(c.name) for c in sample]
    sizes = sorted(f[0] for f in funnels)
    print(
        f"blocking (sample of {len(sample):,} clients): names compared per client: mean {statistics.fmean(sizes):.1f},"
        f" median {statistics.median(sizes):.0f}, p99 {sizes[int(0.99 * (len(sizes) - 1))]}, max {sizes[-1]}"
        f" (of {screener.record_count:,}); after the C++ filter: mean {statistics.fmean(f[1] for f in funnels):.1f};"
        f" names within reach of the threshold: {sum(f[3] for f in funnels):,}, of which the C++ filter kept"
        f" {sum(f[2] for f in funnels):,}"
    )

    if missed:
        kinds = Counter(k for m in missed for k in m.kinds)
        explained = [(m, *screener.explain(clients_by_id[m.client_id], m.entry_id)) for m in missed]
        stages = Counter(stage for _, _, stage in explained)
        print(
            f"missed ({len(missed)}): by variant {dict(kinds)}; where: {stages['blocking']} never compared (blocking),"
            f" {stages['filter']} dropped by the C++ filter, {stages['threshold']} scored below the threshold"
            + (f", {stages['hit']} hit when screened alone" if stages["hit"] else "")
            + "; the first ones:"
        )
        for truth, hit, stage in explained[:12]:
            client = clients_by_id[truth.client_id]
            entry = entries_by_id[truth.entry_id]
            print(
                f"  {'+'.join(truth.kinds):<22} client {client.name!r} ({client.birth_date}, {client.country})"
                f" vs {entry.names} ({entry.birth_dates}, {entry.countries}): score {hit.score},"
                f" name {hit.name_score} ({stage})"
            )

    flagged_share = len(fp_clients) / others
    worst_origin = max(
        flagged_by_origin, key=lambda code: flagged_by_origin[code] / clients_by_origin[code], default=""
    )
    worst_share = flagged_by_origin[worst_origin] / clients_by_origin[worst_origin] if worst_origin else 0.0

    reference(data, screener, quick=quick)

    met = (
        total_seconds <= GOAL_SECONDS
        and recall >= GOAL_RECALL
        and flagged_share <= GOAL_FLAGGED
        and worst_share <= GOAL_FLAGGED_ORIGIN
    )
    print(
        f"goal: index + screening <= {GOAL_SECONDS:.0f} s ({total_seconds:.1f} s, load average"
        f" {os.getloadavg()[0]:.2f}), recall >= {100 * GOAL_RECALL:.0f}% ({100 * recall:.2f}%), clean clients"
        f" flagged <= {100 * GOAL_FLAGGED:.0f}% ({100 * flagged_share:.2f}%) and <= {100 * GOAL_FLAGGED_ORIGIN:.0f}%"
        f" for every origin ({worst_origin} {100 * worst_share:.2f}%): {'MET' if met else 'NOT MET'}"
        + (" (quick run: 1/10 of the sizes)" if quick else ""),
        flush=True,
    )
    return met


def show_false_positives(data: Data, screener: Screener, outcome: Outcome, *, count: int, origin: str | None) -> None:
    """A seeded sample of the hits on clients that were not planted (of one origin, if given), each
    with the entry it hit, the scores, and how many people the index knows to carry each of the
    client's name tokens and all of them together (namesakes): what a reviewer would be shown."""
    from kyc.screening.matcher import _core_tokens

    pairs = [
        (client_id, hit)
        for client_id, got in sorted(outcome.hits.items())
        if client_id not in data.planted and (origin is None or data.origins[client_id] == origin)
        for hit in got
    ]
    sample = random.Random(SEED + 3).sample(pairs, min(count, len(pairs)))
    clients_by_id = {c.client_id: c for c in data.clients}
    entries_by_id = {e.entry_id: e for e in data.entries}
    frequencies = screener._frequencies
    print(f"false positives{f' of origin {origin}' if origin else ''}: {len(pairs):,} hits, a sample of {len(sample)}:")
    for client_id, hit in sorted(sample, key=lambda p: -p[1].score):
        client, entry = clients_by_id[client_id], entries_by_id[hit.entry_id]
        tokens = _core_tokens(client.name)
        carriers = " ".join(f"{t}:{frequencies.spellings.get(t, 0)}" for t in tokens)
        print(
            f"  [{data.origins[client_id]}] {client.name!r} ({client.birth_date}, {client.country})"
            f" ~ {hit.matched_name!r} of {entry.names} ({entry.birth_dates}, {entry.countries}):"
            f" score {hit.score}, name {hit.name_score}, dob {hit.dob_match}, country {hit.country_match};"
            f" carriers {carriers}, namesakes {frequencies.namesakes(tokens)}"
        )


def reference(data: Data, screener: Screener, *, quick: bool) -> None:
    """OpenSanctions' own matcher (nomenklatura's logic-v2, as yente uses it) on a sample of the same
    clients, if installed (it is not a dependency of the project: it brings numpy, scipy,
    scikit-learn, duckdb, SQLAlchemy and PyICU). Each sampled client is compared with the entries
    that this screener's blocking puts before it (the reference has no index of its own here), and
    matches at yente's default threshold."""
    try:
        from followthemoney import model
        from nomenklatura.matching import LogicV2, ScoringConfig
    except ImportError:
        print(
            "reference (nomenklatura logic-v2): not installed here; to compare, run this benchmark with a"
            " Python that has nomenklatura (pip install nomenklatura faker rapidfuzz anyascii)"
        )
        return
    started = time.monotonic()
    rng = random.Random(SEED + 2)
    planted_ids = sorted(data.planted)
    clean_ids = [c.client_id for c in data.clients if c.client_id not in data.planted]
    divisor = QUICK_DIVISOR if quick else 1
    sample = set(rng.sample(planted_ids, min(len(planted_ids), REFERENCE_PLANTED // divisor)))
    sample |= set(rng.sample(clean_ids, min(len(clean_ids), REFERENCE_CLEAN // divisor)))
    config = ScoringConfig.defaults()
    entities: dict[str, Any] = {}

    def entity(entry: ListEntry) -> Any:
        found = entities.get(entry.entry_id)
        if found is None:
            found = entities[entry.entry_id] = model.make_entity("Person")
            found.id = entry.entry_id
            found.add("name", entry.names)
            found.add("birthDate", entry.birth_dates)
            found.add("country", entry.countries)
        return found

    found = flagged = planted = clean = compared = 0
    flagged_by_origin: Counter[str] = Counter()
    clean_by_origin: Counter[str] = Counter()
    for client in data.clients:
        if client.client_id not in sample:
            continue
        query = model.make_entity("Person")
        query.id = client.client_id
        query.add("name", client.name)
        if client.birth_date:
            query.add("birthDate", client.birth_date)
        if client.country:
            query.add("country", client.country)
        numbers = {screener._record_entry[r] for r in screener.block(client.name)}
        matched = set()
        for number in numbers:
            entry = screener.entries[number]
            compared += 1
            if LogicV2.compare(query, entity(entry), config).score >= REFERENCE_THRESHOLD:
                matched.add(entry.entry_id)
        truth = data.planted.get(client.client_id)
        if truth is not None:
            planted += 1
            found += truth.entry_id in matched
        else:
            clean += 1
            origin = data.origins[client.client_id]
            clean_by_origin[origin] += 1
            if matched:
                flagged += 1
                flagged_by_origin[origin] += 1
    print(
        f"reference (nomenklatura logic-v2, threshold {REFERENCE_THRESHOLD:g}, on the entries this screener's blocking"
        f" gives; {planted:,} planted and {clean:,} other clients, {compared:,} comparisons in"
        f" {time.monotonic() - started:.0f} s): recall {_pct(found, planted)}, clean clients flagged"
        f" {_pct(flagged, clean)}; by origin: "
        + ", ".join(
            f"{code} {_pct(flagged_by_origin[code], n)}"
            for code, n in sorted(clean_by_origin.items(), key=lambda x: -flagged_by_origin[x[0]] / x[1])
        ),
        flush=True,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.screening", description=TITLE)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threshold", type=float, help="the screener's threshold (default: the matcher's)")
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument(
        "--false-positives", type=int, default=0, metavar="N", help="print a sample of N hits on clients not planted"
    )
    parser.add_argument("--origin", help="... of clients of this origin only (a culture code: zh, vi, pk, ...)")
    args = parser.parse_args(argv)
    print(TITLE, flush=True)
    met = run(
        quick=args.quick,
        threshold=args.threshold,
        processes=args.processes,
        false_positives=args.false_positives,
        origin=args.origin,
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
