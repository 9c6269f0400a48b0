"""Fuzzy name matching of clients against sanctions / PEP list entries.

Pure Python on top of rapidfuzz (string similarity in C++) and anyascii (transliteration of any
script to ASCII); no Django models. ``Screener(entries, population=client_names)`` builds an index
once; ``screen(candidate)`` and ``screen_many(candidates)`` then return the entries whose names are
close enough, as ``Hit``s.

How two names are compared
--------------------------
* ``normalise``: any script to ASCII (anyascii: Cyrillic, Greek, Arabic, Hebrew, Han, Hangul, kana,
  diacritics), lowercase, apostrophes dropped (O'Brien: obrien), other punctuation to spaces,
  honorifics dropped. The matcher also runs hyphenated parts together (Chia-Hao, Jean-Pierre: one
  given name) and leaves out particles that lists and clients give or omit at will (al, bin, van,
  del, ...; see ``PARTICLES``).
* ``phonetic``: a Soundex-like consonant key per token, made for transliteration variants rather
  than English spelling: k/c/g/q/kh/gh are one sound, d/t/th/dh, f/v/w/ph, s/z/ts/tz, and
  sh/ch/sch/tch/shch/zh/j/dj/dzh; vowels and h are dropped except at the start of the word, doubled
  letters collapsed, a final ng one sound. Gaddafi, Qadhafi, Kadafi and Khadafi are all ``KTF``. A token may have a second
  key for another reading of j or ch (Jaroslaw/Yaroslav, Lichatschew/Likhachev). A name written in an
  abjad (Arabic, Persian, Hebrew: no short vowels) is also compared by its bare consonants
  (anyascii ``mhmd``, Latin Mohammed: both ``MT``): three consonants alike make a strong match if
  the Latin name has the long vowels the abjad writes, in order (waw: u or o, ya: i or e; Masroor
  for msrwr, not Mazahir), else only part of the way, as two do; and so do they against an abjad's
  name that the list also gives in Latin letters: its own romanisation, with the vowels, is the
  better evidence (Mituru is not Mateer, though both are mtyr). A key says less the more names share it: the
  credit a sound match adds to the spelling score is scaled down when more than ``SOUND_KEY_NAMES``
  known names have that key (Hung, Hong, Hang, Heng and Hsiung; Osama, Asim and Aazim).
* Token frequencies (``_Frequencies``): how many people carry each token, counted over the list's
  entries and the population given (the client base), by sound so that transliterations of one
  name count together. A token weighs its inverse document frequency: Nguyen, Wang, Li, Mohammed
  tell little, a rare surname much. A candidate's token carried by at least ``KNOWN_NAME`` people is
  a known name: against a list token that is not the same name (not equal, not of the same sound,
  not a spelling the list itself gives), it is another name rather than a slip of the keyboard:
  ``DISTINCT_NAMES_PENALTY`` a keystroke or so apart (Hung / Hong, Daniel Jones / Daniel Jone),
  ``UNMATCHED_PART_PENALTY`` further (Hung / Trung, Hanh / Hoang); and so is a given name read as
  two known names with one of them another (Hsin-Min / Hsin-Pin): ``COMPOUND_NAMES_PENALTY``, also
  a keystroke apart when the syllables that differ are both common names (Tung-Chin / Hung-Chin;
  not letters swapped, a slip), and against one of its parts alone (I-Sheng / Sheng, Fei-Jen / Jen).
  A syllable may be one vowel (Wade-Giles I, O: I-Sheng / Min-Sheng). A part
  of the shorter name so left unmatched weighs as much as its rarest part (``MISMATCH_SIMILARITY``):
  a shared family name, however rare, does not make the person when the given name is another;
  and, if more than a slip from its counterpart, more the more people carry the two or more parts
  that do agree (``MISMATCH_NAMESAKES_FACTOR``: Bui Anh The is not Bui Thanh The, Bui The being
  the name of many).
* Spellings of one name (``_Frequencies.learn_variants``): an entry's names in Latin letters are
  its aliases, often other romanisations (Yuri Kuchev / Iouri Koutchev); tokens of two of its names
  that are each other's closest and alike enough are recorded as one name, and compared as such
  with every entry: the list's own evidence rather than a looser fuzzy threshold.
* Namesakes: how many people carry all the tokens of a name (at most: the fewest carrying any two
  of them). Tokens of the longer name left unmatched (a middle name the client leaves out) cost
  more the more people share the shorter name (``COMMON_NAME_FACTOR``): Ostap Bykov for Ostap
  Valerianovich Bykov is a hit, Dang Lam for Dang Lam Quang, one of many Dang Lams, is not without
  corroboration.
* The name score (0-100) is 100 for the same tokens in any order, else the best of
    - a token alignment: each token of the shorter name paired with its best token of the longer
      (``fuzz.ratio``, or, where the phonetic keys agree, part of the way from that to 100:
      ``PHONETIC_DISCOUNT``, ``PHONETIC_SPELLING_WEIGHT``; an initial against its name), averaged
      by the tokens' weights, a token of the longer name left over counting as a mismatch of
      ``MISSING_TOKEN_WEIGHT`` of its weight. This is
      what finds missing middle names together with typos or another transliteration:
      token_set_ratio gives 100 to "John Smith" against "John Michael Smith" but falls as soon as
      a remaining token has a typo, and WRatio's partial ratios are too lenient on short names;
    - the same with two neighbouring tokens run together (Chia Hao / Chia-Hao), and the names with
      spaces removed where one of them is one word (Abdulrahman / Abdul Rahman; run together, two
      names of several words share too many letters by chance), less ``MERGE_PENALTY``; a one-word name (Han or
      Hangul through anyascii: xijinping, gimjeongeun) against the same in words, by sound.
* Corroboration: a date of birth that agrees with the entry's (to the precision the entry gives)
  raises the score, one that disagrees lowers it: a little if one part is off (a year, a day), and
  if two are (month and day) or the years are apart, so much that an exact namesake is no hit (``DOB_*``);
  a country among the entry's raises it a little, one not among them lowers it a little. A hit is
  a score of at least ``threshold`` (``DEFAULT_THRESHOLD``: see bench/screening.py for what it
  trades between recall and false positives).

Speed: blocking, a C++ filter, then the score in Python
------------------------------------------------------
Each name is filed in an inverted index under keys made from *two* of its tokens, order-free (so a
reordered name shares them, and a missing middle name leaves the other pairs): for each token its
phonetic keys and, from four letters, its first and last three letters, so that a token keeps a
key through a typo; a token's key with the other token's first or last two letters (a typo in a
short token breaks all its own keys); a token's key with the sorted letters of a short token, each
less one (Amy/Ay, Noa/Ona). One-word names are filed under their token's keys, and every name under
its space-less form. A candidate is compared only with the names sharing one of its keys, leaving
out keys that too many names share (``KEY_CAP``): a few dozen names on average, not the list; and
of these, the names of entries born years away from a candidate with a date of birth.
rapidfuzz's ``process.extract`` (C++) then keeps the names within reach of the threshold by lower
bounds generous enough not to lose hits, and only these few get the full score in Python.
``screen_many`` can spread the candidates over forked processes that share the index.
"""

from __future__ import annotations

import gc
import itertools
import math
import multiprocessing
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from anyascii import anyascii
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

__all__ = ["Candidate", "Hit", "ListEntry", "Screener", "normalise", "phonetic"]

DEFAULT_THRESHOLD = 76.0

# Name score adjustments (points on the 0-100 scale).
# A token of the longer name with no counterpart (a missing middle name) counts as a token scoring 0
# with this share of its weight: with tokens of equal weight, 2 of 3 matched score 92, 1 of 2: 85.
MISSING_TOKEN_WEIGHT = 0.175
MERGE_PENALTY = 2.0  # two tokens of one name against one of the other (Chia Hao / Chia-Hao)
# Token weights (see _Frequencies): a token's weight is its inverse document frequency among the
# people the screener knows (the list's entries and, given, the client base), at least MIN_WEIGHT.
MIN_WEIGHT = 1.0
# Two different tokens that are each the name of at least KNOWN_NAME people are two names, not one
# name and a slip of the keyboard (Daniel Jones / Daniel Torres, Vu Hai / Vu Hoa): their spelling
# score is lowered by DISTINCT_NAMES_PENALTY (unless they sound alike: transliterations of one name).
KNOWN_NAME = 2
# ... and a token read as two known names run together (of at least KNOWN_PART people each: Hsin-Min,
# Hsinmin, Hsin Min), against another token read so: a compound given name that is another one. A
# part is of two letters or more, or one of SYLLABLE_LETTERS (the Chinese syllables I, O, E, A:
# I-Sheng, O-Ching). One common part (COMMON_TOKEN) for another common one is another name even a
# keystroke apart (Tung-Chin / Hung-Chin), unless the two are the same letters swapped; and so is
# one of the parts alone (I-Sheng / Sheng).
KNOWN_PART = 3
SYLLABLE_LETTERS = frozenset("aeio")
DISTINCT_NAMES_PENALTY = 20.0  # a known name a slip of the keyboard from the list's (Hung / Hong)
UNMATCHED_PART_PENALTY = 50.0  # ... more than a slip from it (Hung / Trung)
COMPOUND_NAMES_PENALTY = 35.0  # a compound given name of known names, more than a slip from the list's
SLIPS_LONG = 8  # a slip is one edit (OSA: a swap of neighbours is one), two in a token this long
# A pair of tokens scoring less than this leaves the shorter name's token unmatched: it weighs as
# much as the name's rarest token.
MISMATCH_SIMILARITY = 50.0
# A token that at least COMMON_TOKEN people carry against another so common: two names, however close.
COMMON_TOKEN = 20
# Tokens of the longer name left unmatched weigh (1 + COMMON_NAME_FACTOR * ln(n / COMMON_NAME_FLOOR))
# times more when n people carry the shorter name (the candidate and the listed person: 2).
COMMON_NAME_FACTOR = 5.0
COMMON_NAME_FLOOR = 2.0
# ... and so does a token of the shorter name left unmatched (more than a slip from its counterpart),
# with n the people carrying its two or more tokens that agree (Bui Anh The / Bui Thanh The: Bui The).
MISMATCH_NAMESAKES_FACTOR = 5.0
# Two tokens of an entry's names are spellings of one name if each is the other's closest, their
# fuzz.ratio is at least VARIANT_SIMILARITY and they are at most 2 edits, or VARIANT_EDITS per letter, apart.
VARIANT_SIMILARITY = 50.0
VARIANT_EDITS = 0.4
# Two tokens with the same phonetic key (of three letters or more; three consonants for the keys of
# their other readings, see _phonetics) score
# 100 - PHONETIC_DISCOUNT - PHONETIC_SPELLING_WEIGHT * (100 - their spelling score), if that is more:
# Gaddafi/Khadafi (spelling 71) 84, Muammar/Moammar (86) 90, Jaroslaw/Yaroslav (75) 86.
PHONETIC_DISCOUNT = 4.0
PHONETIC_SPELLING_WEIGHT = 0.4
# Same consonant skeleton, when one name is written in an abjad (no short vowels); of three consonants
# or more, and the long vowels it writes (waw, ya) in the Latin name: a strong match (see _long_vowels_agree).
ABJAD_PHONETIC_DISCOUNT = 6.0
COMPACT_PHONETIC_DISCOUNT = 8.0  # a one-word name (Han, Hangul) against the same in words, by sound
INITIAL_SIMILARITY = 80.0  # "J" against "John"
# A phonetic key that many known names share says little (Hung, Hong, Hang, Heng and Hsiung are all
# one key, and so are Osama and Aazim): the credit a sound match adds to the spelling score is scaled by
# SOUND_KEY_NAMES / (known names of that key), at most 1.
SOUND_KEY_NAMES = 5

# Corroboration (points added to the name score; negative lowers it).
DOB_FULL_MATCH = 16.0  # same full date: strong evidence (two people share one by chance 1 in ~20,000)
DOB_MONTH_MATCH = 6.0  # the entry gives year and month, and they agree
DOB_YEAR_MATCH = 3.0  # the entry gives a year only, and it agrees
DOB_SWAPPED = 2.0  # day and month swapped: a common data-entry slip
DOB_NEAR = -5.0  # one part off: the year by one (list dates are often approximate), or the day, or the month
# Dates of birth both given and years apart: another person. An exact name with a matching country
# falls below the default threshold (100 + 3 - 30): namesakes are the bulk of false positives.
DOB_MISMATCH = -30.0
# Same year (or a year off), but month and day both differ: two parts of the date, not one slip;
# another date of birth, another person, as much as years apart.
DOB_SAME_YEAR = DOB_MISMATCH
COUNTRY_MATCH = 3.0
COUNTRY_MISMATCH = -2.0  # weak: nationality, residence and birthplace differ often
MAX_BONUS = DOB_FULL_MATCH + COUNTRY_MATCH

# Blocking and filtering.
RARE_KEY_CAP = 150  # a one-word candidate's token is looked up only if so few names carry it
KEY_CAP = 400  # a key that more names carry than this is too common to block on (-ova|-vna)
# The C++ filter keeps a name if, against the candidate, its token_ratio or ratio reaches the least
# name score that corroboration could lift to the threshold less PREFILTER_SLACK (the alignment can
# score above both), or the token_ratio of the phonetic keys reaches PHONETIC_PREFILTER; then, with
# the candidate's date of birth and country, if that ratio plus ESTIMATE_SLACK (any for phonetic
# ones) and its entry's corroboration can still reach the threshold: a name far from certain whose
# entry's date of birth is decades from the candidate's is not scored.
PREFILTER_SLACK = 10.0
ESTIMATE_SLACK = 20.0
PHONETIC_PREFILTER = 80.0
SMALL_BLOCK = 2  # blocks this small skip the C++ filter and are scored directly

HONORIFICS = frozenset(
    """mr mrs ms miss mx dr prof sir dame lord lady rev revd fr sheikh shaikh sheik shaykh haji hajji hadji
    alhaji jr sr snr jnr esq mme mlle mm herr frau sig sra srta gen col capt maj lt sgt""".split()
)
# Left out of the comparison: the Arabic article and "son/daughter of", Dutch/German/Iberian
# particles. Short ones that are also names (Le, Du, Da, Di, Ben: Vietnamese and Chinese surnames,
# a given name) are kept: for them a missing token costs the usual penalty.
PARTICLES = frozenset("al el ul ud bin bn ibn bint binti van von der den ter del della dela dos das y".split())
# ... and these unless they start the name (Ben Smith): "son of" in Arabic names written the Maghreb way.
LATER_PARTICLES = frozenset({"ben"})

_ABJAD = re.compile(r"[\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
# Arabic definite article at the start of a word: anyascii renders it as a bare "l" fused to the word.
_ARABIC_ARTICLE = re.compile(r"(?<![\u0600-\u06ff])\u0627\u0644(?=[\u0600-\u06ff])")
_APOSTROPHES = re.compile(r"['`]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NON_ALNUM_HYPHEN = re.compile(r"[^a-z0-9-]+")

# At the start of a word: h is kept (Hamid is not Ahmed), chr/chl is a k (Christos, Khristos).
# ... and at the end, j is the y of Slavic names in German or Polish spelling (Sergej, Nikolaj).
# ... and a final ng is one sound (Hong, Hung, Huong: HN, not HNK, which would earn them a sound match).
_INITIALS = re.compile(r"\bh(?!h)|\bch(?=[lr])|(?<=[aeiouy])j\b|ng\b")
_INITIAL_CODES = {"h": "H", "ch": "K", "j": "y", "ng": "n"}
_CH = re.compile(r"(?<![st])ch")
_DIGRAPHS = re.compile(r"tsch|shch|sch|dzh|tch|kh|gh|ph|th|dh|sh|ch|zh|ck|ts|tz|dj|qu|x")
_DIGRAPH_CODES = {
    "tsch": "X",
    "shch": "X",
    "sch": "X",
    "dzh": "X",
    "tch": "X",
    "kh": "K",
    "gh": "K",
    "ph": "F",
    "th": "T",
    "dh": "T",
    "sh": "X",
    "ch": "X",
    "zh": "X",
    "ck": "K",
    "ts": "S",
    "tz": "S",
    "dj": "X",
    "qu": "K",
    "x": "KS",
}
_LETTER_CODES = str.maketrans(
    {
        **dict.fromkeys("aeiouy", "a"),
        **dict.fromkeys("h0123456789"),
        **dict.fromkeys("fvw", "F"),
        **dict.fromkeys("cgkq", "K"),
        **dict.fromkeys("dt", "T"),
        **dict.fromkeys("sz", "S"),
        "b": "B",
        "p": "P",
        "j": "X",
        "l": "L",
        "m": "M",
        "n": "N",
        "r": "R",
    }
)
_REPEATS = re.compile(r"(\w)\1+")
_INNER_VOWELS = re.compile(r"\Ba")


# --- the data ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class ListEntry:
    """One person or organisation on a sanctions or PEP list."""

    entry_id: str
    names: list[str]  # the name and its aliases, in any script
    birth_dates: list[str]  # ISO dates, possibly partial: "1970", "1970-05", "1970-05-12"
    countries: list[str]  # ISO 3166-1 alpha-2, lowercase
    schema: str = "Person"
    datasets: str = ""


@dataclass(slots=True)
class Candidate:
    """A client to screen."""

    client_id: str
    name: str
    birth_date: str | None = None  # ISO, possibly partial
    country: str | None = None  # ISO 3166-1 alpha-2


@dataclass(slots=True)
class Hit:
    client_id: str
    entry_id: str
    score: float  # name score with the corroboration, 0-100
    name_score: float  # the name alone, 0-100
    matched_name: str  # the entry's name (or alias) that matched, as the list gives it
    dob_match: bool | None  # None: a date missing on either side
    country_match: bool | None


# --- normalising --------------------------------------------------------------------------------------


class _Transliterations(dict[int, str]):
    """anyascii one character at a time, remembered: ``str.translate`` with it is many times faster
    than ``anyascii`` on each name (anyascii maps code points one by one, so the result is the same)."""

    def __missing__(self, code: int) -> str:
        value = self[code] = anyascii(chr(code))
        return value


_TRANSLITERATIONS = _Transliterations()


def _ascii_lower(name: str) -> str:
    if not name.isascii():
        name = _ARABIC_ARTICLE.sub("al-", name).translate(_TRANSLITERATIONS)
    return _APOSTROPHES.sub("", name.lower())


def normalise(name: str) -> str:
    """Lowercase ASCII: scripts transliterated, diacritics stripped, punctuation and honorifics dropped."""
    tokens = _NON_ALNUM.sub(" ", _ascii_lower(name)).split()
    kept = [t for t in tokens if t not in HONORIFICS]
    return " ".join(kept or tokens)


def _match_tokens(name: str) -> list[str]:
    """The tokens the matcher compares: ``normalise``'s, except that the parts of a hyphenated word
    are one token (Chia-Hao, Jean-Pierre, Ching-Bin: one given name), unless a part is a particle
    before another (al-Gaddafi)."""
    tokens = []
    for word in _NON_ALNUM_HYPHEN.sub(" ", _ascii_lower(name)).split():
        if "-" not in word:
            tokens.append(word)
            continue
        glued = ""
        parts = word.split("-")
        for k, part in enumerate(parts):
            # A particle comes before the name it belongs to (al-Gaddafi); last in the word, it is a
            # syllable of it (Ching-Bin).
            if part in PARTICLES and k < len(parts) - 1:
                if glued:
                    tokens.append(glued)
                    glued = ""
                tokens.append(part)
            else:
                glued += part
        if glued:
            tokens.append(glued)
    kept = [t for t in tokens if t not in HONORIFICS]
    return kept or tokens


@lru_cache(maxsize=1 << 17)
def phonetic(text: str) -> str:
    """The consonant skeleton of normalised text, token by token (see the module's docstring)."""
    code = _INITIALS.sub(lambda m: _INITIAL_CODES[m.group()], text)
    code = _DIGRAPHS.sub(lambda m: _DIGRAPH_CODES[m.group()], code).translate(_LETTER_CODES)
    return _INNER_VOWELS.sub("", _REPEATS.sub(r"\1", code))


@lru_cache(maxsize=1 << 17)
def _sounds(token: str) -> frozenset[str]:
    """The phonetic keys by which the token may match another spelled differently: its own key if
    of three letters or more (Osama/Usama: aSM), the keys of its other readings (_phonetics) only if
    of three consonants or more (Jaroslaw/Yaroslav: aRSLF, but not Julian as Yulian/Allen: aLN)."""
    keys = _phonetics(token)
    eligible = {k for k in keys if len(k.lstrip("a")) >= 3}
    if len(keys[0]) >= 3:
        eligible.add(keys[0])
    return frozenset(eligible)


@lru_cache(maxsize=1 << 17)
def _skeleton(token: str) -> str:
    """Consonants only, for names from an abjad: anyascii writes Arabic waw and ya as w and y where
    they are mostly the long vowels u and i, drops alif and writes hamza as an apostrophe, and there
    are no short vowels to separate doubles (Ahmad 'hmd, Hamid hmd, Yusuf ywsf: MT, MT, SF)."""
    consonants = phonetic(token.replace("w", "").replace("y", "")).replace("a", "").replace("H", "")
    return _REPEATS.sub(r"\1", consonants)


@lru_cache(maxsize=1 << 17)
def _phonetics(token: str) -> tuple[str, ...]:
    """The token's phonetic key, and the keys of its other readings: j as the y of German and Slavic
    spellings (Jaroslaw, Yaroslav), ch as the kh of German and Greek ones (Lichatschew, Likhachev),
    th and dh as the s and z of Arabic names (Uthman, Osman; Thamer, Samer)."""
    keys = [phonetic(token)]
    if "j" in token:
        keys.append(phonetic(token.replace("j", "y")))
    if "ch" in token:
        keys += [phonetic(_CH.sub("kh", k)) for k in (token, token.replace("j", "y")) if "ch" in k]
    if "th" in token or "dh" in token:  # Arabic tha and dhal, said s and z in much of the Arab world
        keys.append(phonetic(token.replace("th", "s").replace("dh", "z")))
    return tuple(dict.fromkeys(keys))


@lru_cache(maxsize=1 << 17)
def _token_keys(token: str, abjad: bool = False) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The blocking keys of one token: (its phonetic keys, its first and last three letters). A
    token from an abjad also has the key without w and y, mostly long vowels there (bqwm: BKM)."""
    codes = _phonetics(token)
    if abjad and ("w" in token or "y" in token):
        codes = (*codes, phonetic(token.replace("w", "").replace("y", "")))
    # Without the leading vowel too: an abjad's initial ayn or alif is lost (Adnan: `dnan, dnan).
    codes = (*codes, *(c[1:] for c in codes if c.startswith("a") and len(c) >= 4))
    phon = tuple(dict.fromkeys("f" + code for code in codes if len(code) >= 2)) or ("t" + token,)
    return phon, (("p" + token[:3], "s" + token[-3:]) if len(token) >= 4 else ())


class _Name(NamedTuple):
    plain: str  # the core tokens, space-separated
    tokens: tuple[str, ...]  # core tokens: normalised, without particles
    sounds: tuple[frozenset[str], ...]  # each token's phonetic keys that can earn credit (see _sounds)
    skeletons: tuple[str, ...]  # ... with repeated consonants collapsed even across vowels (for abjads)
    phon: str  # the phonetic keys, space-separated
    compact: str  # the tokens run together
    compact_phon: str  # phonetic key of the tokens run together
    abjad: bool  # written in an abjad (no short vowels)
    romanised: bool = False  # ... and the list gives the name in Latin letters too (see Screener._add)


def _core_tokens(name: str) -> tuple[str, ...]:
    """The tokens compared: ``_match_tokens`` less particles (unless there is nothing else)."""
    tokens = _match_tokens(name)
    # A particle comes before the name it belongs to (van der Berg, al-Gaddafi); with no name after
    # it, it is a name itself (the Vietnamese given names of BUI, Van Van).
    last_name_at = max((i for i, t in enumerate(tokens) if t not in PARTICLES), default=-1)
    core = tuple(
        t
        for i, t in enumerate(tokens)
        if i > last_name_at or (t not in PARTICLES and (i == 0 or t not in LATER_PARTICLES))
    )
    return core or tuple(tokens)


def _prepare(name: str) -> _Name | None:
    core = _core_tokens(name)
    return _from_tokens(core, abjad=_ABJAD.search(name) is not None) if core else None


def _from_tokens(tokens: tuple[str, ...], *, abjad: bool) -> _Name:
    compact = "".join(tokens)
    return _Name(
        plain=" ".join(tokens),
        tokens=tokens,
        sounds=tuple(_sounds(t) for t in tokens),
        skeletons=tuple(_skeleton(t) for t in tokens),
        phon=" ".join(phonetic(t) or t for t in tokens),
        compact=compact,
        compact_phon=phonetic(compact),
        abjad=abjad,
    )


def _merged(name: _Name, i: int) -> _Name:
    """The name with its tokens i and i + 1 run together: a given name written in one word or two
    (Chia-Hao / Chia Hao, Abdulrahman / Abdul Rahman)."""
    tokens = name.tokens
    merged = _from_tokens((*tokens[:i], tokens[i] + tokens[i + 1], *tokens[i + 2 :]), abjad=name.abjad)
    return merged._replace(romanised=name.romanised) if name.romanised else merged


def _pair_keys(tokens: Sequence[str], abjad: bool, *, first_only: bool = False) -> set[str]:
    """The pair keys of every two tokens (``first_only``: of the first token with each other)."""
    keys: set[str] = set()
    per_token = list(zip(tokens, (_token_keys(t, abjad) for t in tokens), strict=True))
    pairs = ((per_token[0], other) for other in per_token[1:]) if first_only else itertools.combinations(per_token, 2)
    for (a, a_per), (b, b_per) in pairs:
        (a_phon, a_spelling), (b_phon, b_spelling) = a_per, b_per
        # Two tokens that each kept one of their keys (through a typo or another spelling).
        for x in (*a_phon, *a_spelling):
            for y in (*b_phon, *b_spelling):
                keys.add(f"2{x}|{y}" if x < y else f"2{y}|{x}")
        # One token that kept a key, the other its first or last two letters (a typo in a short
        # token breaks all its own keys: Aryan/Ardan).
        for (phon, spelling), other in ((a_per, b), (b_per, a)):
            own = (*phon, *spelling)
            if len(other) >= 3:
                for x in own:
                    keys.add(f"3{x}|{other[:2]}")
                    keys.add(f"4{x}|{other[-2:]}")
            if len(other) <= 4:
                # A short token's letters in any order, each less one: a typo in Ann, Noa, Amy, Taj.
                for x in own:
                    keys.update(f"5{x}|{letters}" for letters in _short_token_keys(other))
    return keys


@lru_cache(maxsize=1 << 14)
def _short_token_keys(token: str) -> tuple[str, ...]:
    letters = "".join(sorted(token))
    if len(letters) < 3:
        return (letters,)
    return tuple({letters, *(letters[:i] + letters[i + 1 :] for i in range(len(letters)))})


def _blocking_keys(name: _Name, *, indexing: bool) -> set[str]:
    """The keys a name is filed under (``indexing``) or looked up by: pairs of keys of two of its
    tokens ("2" to "5", "k", "K"), the space-less name ("c", "C"), single tokens for one-word names
    ("1", "r")."""
    usable = [t for t in name.tokens if len(t) > 1] or list(name.tokens)
    per_token = [_token_keys(t, name.abjad) for t in usable]
    keys: set[str] = set()
    if len(usable) == 1 or not indexing:
        # A one-word entry is filed under its token's keys, and every name is looked up by its own.
        keys.update("1" + k for phon, spelling in per_token for k in (*phon, *spelling))
    if indexing or len(usable) == 1:
        # Every token's sound, for one-word candidates (Suharto against Haji Mohammad Suharto): used
        # only if few names carry it.
        keys.update("r" + k for phon, _ in per_token for k in phon)
    keys |= _pair_keys(usable, name.abjad)
    # Bare consonants, for names from an abjad, whose anyascii form keeps no vowel between doubled
    # consonants and drops an ayn (Muammar: mmr, MR): filed under "k" for abjad names and "K" for
    # all; a candidate in an abjad looks up "K", any other "k".
    skeletons = [_skeleton(t) for t in usable]
    for x, y in itertools.combinations(skeletons, 2):
        if x and y and len(x) + len(y) >= 4:
            pair = f"{x}|{y}" if x < y else f"{y}|{x}"
            if indexing:
                keys.add("K" + pair)
                if name.abjad:
                    keys.add("k" + pair)
            else:
                keys.add(("K" if name.abjad else "k") + pair)
    if len(name.tokens) > 1 or not indexing:
        keys.add("c" + name.compact)
        if len(name.compact_phon) >= 3:
            keys.add("C" + name.compact_phon)
        if indexing:
            reverse = "".join(reversed(name.tokens))
            keys.add("c" + reverse)
            keys.add("C" + phonetic(reverse))
    if not indexing and len(usable) >= 3:
        # The pairs that a given name written in one word (Chia-Hao, Abdulrahman) makes with the rest.
        for i in range(len(usable) - 1):
            merged = usable[i] + usable[i + 1]
            keys |= _pair_keys([merged, *usable[:i], *usable[i + 2 :]], name.abjad, first_only=True)
    return keys


# --- scoring -------------------------------------------------------------------------------------------


class _Profile(NamedTuple):
    """What a screener knows of a name's tokens: their weights and whether each is a known name."""

    weights: tuple[float, ...]
    known: tuple[bool, ...]
    sounds: tuple[tuple[str, ...], ...]  # each token's sound (a merged token: both of its parts')
    parts: tuple[frozenset[tuple[str, str]], ...]  # each token's readings as two known names run together
    namesakes: int = 1  # people known to carry all of the name's tokens (at most), this one included
    common: tuple[bool, ...] = ()  # each token: carried by at least COMMON_TOKEN people (both sides)


_NO_COUNTS: Mapping[str, int] = {}


def _sound(token: str) -> str:
    return phonetic(token) or token


def _by_length(name: _Name) -> _Profile:
    """The profile of a name with no frequencies to go by: tokens weigh their length."""
    return _Profile(
        tuple(float(len(t)) for t in name.tokens),
        (False,) * len(name.tokens),
        tuple((_sound(t),) for t in name.tokens),
        (frozenset(),) * len(name.tokens),
    )


def _merged_profile(
    profile: _Profile, i: int, known_merged: bool = False, parts: frozenset[tuple[str, str]] = frozenset()
) -> _Profile:
    weights, known, sounds = profile.weights, profile.known, profile.sounds
    return _Profile(
        (*weights[:i], max(weights[i], weights[i + 1]), *weights[i + 2 :]),
        (*known[:i], known_merged, *known[i + 2 :]),
        (*sounds[:i], sounds[i] + sounds[i + 1], *sounds[i + 2 :]),
        (*profile.parts[:i], parts, *profile.parts[i + 2 :]),
        profile.namesakes,
        (*profile.common[:i], False, *profile.common[i + 2 :]) if profile.common else (),
    )


def _slips(x: str, y: str) -> int:
    """How many edits a slip of the keyboard makes in a token: two only in a long one."""
    return 2 if min(len(x), len(y)) >= SLIPS_LONG else 1


def _quality(sim: float) -> float:
    """How much of a token's information a pair of this similarity carries: all from 95, none at 50."""
    return 0.0 if sim <= 50.0 else 1.0 if sim >= 95.0 else (sim - 50.0) / 45.0


def _similarities(
    a: _Name,
    b: _Name,
    pa: _Profile,
    pb: _Profile,
    abjad: bool,
    variants: Container[tuple[str, str]] = (),
    sound_names: Mapping[str, int] = _NO_COUNTS,
    spellings: Mapping[str, int] = _NO_COUNTS,
) -> list[tuple[float, int, int]]:
    """Every token of ``a`` against every token of ``b``: spelling (``fuzz.ratio``), sound (equal
    phonetic keys, less a discount), or an initial against a name. A candidate's token that is a
    known name (only a candidate's profile marks them) is another name than a list token it does
    not sound like, not a slip: their spelling score is lowered."""
    out = []
    for i, (x, px, sx) in enumerate(zip(a.tokens, a.sounds, a.skeletons, strict=True)):
        for j, (y, py, sy) in enumerate(zip(b.tokens, b.sounds, b.skeletons, strict=True)):
            if x == y:
                sim = 100.0
            elif len(x) == 1 or len(y) == 1:
                sim = INITIAL_SIMILARITY if x[0] == y[0] else 0.0
            else:
                sim = fuzz.ratio(x, y)
                if ((x, y) if x < y else (y, x)) in variants:
                    # Spellings of one name, as the list gives them in an entry's aliases.
                    sim = max(sim, 100.0 - PHONETIC_DISCOUNT)
                elif abjad and sx == sy and len(sx) >= 2:
                    # Consonants alike, the vowels unwritten: three consonants make a strong match,
                    # two (mhmd, nsr) only part of the way from the spelling's score to 100; and so do
                    # three whose long vowels, which the abjad does write, the Latin name lacks, and
                    # three of a name the list also romanises (its own Latin name is the better evidence).
                    strong = len(sx) >= 3 and (
                        a.abjad == b.abjad
                        or (not (a.romanised or b.romanised) and _long_vowels_agree(*((x, y) if a.abjad else (y, x))))
                    )
                    weight = 0.0 if strong else PHONETIC_SPELLING_WEIGHT
                    sim = max(sim, 100.0 - ABJAD_PHONETIC_DISCOUNT - weight * (100.0 - sim))
                elif not px.isdisjoint(py):
                    # Same sound, other spelling: part of the way from the spelling's score to 100, the
                    # less the more known names share the sound.
                    gain = max(0.0, 100.0 - PHONETIC_DISCOUNT - PHONETIC_SPELLING_WEIGHT * (100.0 - sim) - sim)
                    names = min(sound_names.get(k, 0) for k in px & py)
                    sim += gain * min(1.0, SOUND_KEY_NAMES / max(1, names))
                elif pa.known[i] or pb.known[j]:
                    # A name other people carry too, not a one-off spelling: another name than the
                    # list's, more so if more than a slip of the keyboard apart (Hung / Hong, Hung / Trung).
                    # Two names that many people carry are two names even a keystroke apart.
                    far = OSA.distance(x, y) > _slips(x, y) or (
                        bool(pa.common) and bool(pb.common) and pa.common[i] and pb.common[j]
                    )
                    sim = max(0.0, sim - (UNMATCHED_PART_PENALTY if far else DISTINCT_NAMES_PENALTY))
                if pa.parts[i] and pb.parts[j]:
                    # Different given names made of two known names each (Hsin-Min, Hsin-Pin; more
                    # than a slip apart: Shih-Chiang, Shih-Sheng).
                    far = OSA.distance(x, y) > _slips(x, y) or _one_part_other(pa.parts[i], pb.parts[j], spellings)
                    sim = max(0.0, sim - (COMPOUND_NAMES_PENALTY if far else DISTINCT_NAMES_PENALTY))
                elif (pa.parts[i] and any(y in parts for parts in pa.parts[i])) or (
                    pb.parts[j] and any(x in parts for parts in pb.parts[j])
                ):
                    # A given name of two known names against one of them alone (Fei-Jen / Jen,
                    # I-Sheng / Sheng): the other is not there, another given name.
                    sim = max(0.0, sim - COMPOUND_NAMES_PENALTY)
            out.append((sim, i, j))
    return out


_LATIN_VOWEL_CLASSES = str.maketrans(
    {**dict.fromkeys("a", "A"), **dict.fromkeys("eiy", "I"), **dict.fromkeys("ouw", "U")}
)


@lru_cache(maxsize=1 << 16)
def _long_vowels_agree(abjad: str, latin: str) -> bool:
    """Whether a Latin name has the long vowels an abjad's name writes (waw: u or o, ya: i or e, after
    its first letter, where they are consonants), in their order: Qadhafi for qdhfy, Kalooti for klwty,
    not Khalad. Alif, which anyascii leaves out, is not checked."""
    written = [("U" if c == "w" else "I") for c in abjad[1:] if c in "wy"]
    if not written:
        return True
    vowels = iter(c for c in latin.translate(_LATIN_VOWEL_CLASSES) if c in "AIU")
    return all(v in vowels for v in written)


def _one_part_other(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]], spellings: Mapping[str, int]) -> bool:
    """Two compound given names that share one part and differ in the other, both common names
    (Tung-Chin / Hung-Chin): another name, however few letters apart. Not letters swapped (a slip)."""
    for x1, x2 in a:
        for y1, y2 in b:
            if (x1 == y1) == (x2 == y2):
                continue
            x, y = (x1, y1) if x1 != y1 else (x2, y2)
            if spellings.get(x, 0) >= COMMON_TOKEN and spellings.get(y, 0) >= COMMON_TOKEN and sorted(x) != sorted(y):
                return True
    return False


def _alignment(
    a: _Name,
    b: _Name,
    pa: _Profile,
    pb: _Profile,
    abjad: bool,
    variants: Container[tuple[str, str]] = (),
    sound_names: Mapping[str, int] = _NO_COUNTS,
    spellings: Mapping[str, int] = _NO_COUNTS,
    namesakes: Callable[[Sequence[str]], int] | None = None,
) -> float:
    """Tokens of the shorter name paired with their best tokens of the longer, averaged by weight (a
    pair weighs what its more common token does); the longer name's leftover tokens count as
    mismatches of a share of their weight. ``namesakes``: how many people carry some tokens (to
    weigh a token that is another name by how common the rest is; not without)."""
    if len(a.tokens) > len(b.tokens):
        a, b, pa, pb = b, a, pb, pa
    pairs = sorted(_similarities(a, b, pa, pb, abjad, variants, sound_names, spellings), reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    total = weight = 0.0
    heaviest = max(pa.weights)
    mismatched: list[tuple[float, float]] = []
    agreed: list[str] = []
    for sim, i, j in pairs:
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        w = min(pa.weights[i], pb.weights[j])
        if sim < MISMATCH_SIMILARITY:
            # A part of the shorter name that the other does not have (another given name) weighs as
            # much as its rarest part: a rare family name alone does not make the person.
            w = max(w, heaviest)
            if OSA.distance(a.tokens[i], b.tokens[j]) > _slips(a.tokens[i], b.tokens[j]):
                mismatched.append((sim, w))
        else:
            agreed.append(a.tokens[i])
        total += sim * w
        weight += w
        if len(used_a) == len(a.tokens):
            break
    if mismatched and len(agreed) >= 2 and namesakes is not None:
        # ... and more the more people carry the parts that do agree (Bui The, one of many: Bui Anh
        # The is not Bui Thanh The), as a missing part does (below).
        extra = MISMATCH_NAMESAKES_FACTOR * math.log(max(1.0, namesakes(agreed) / COMMON_NAME_FLOOR))
        total += extra * sum(sim * w for sim, w in mismatched)
        weight += extra * sum(w for _, w in mismatched)
    leftover = sum(w for j, w in enumerate(pb.weights) if j not in used_b)
    if leftover:
        # The longer name's extra tokens are unconfirmed: the more people carry the shorter name,
        # the less likely this one is the listed person (Dang Lam: one of many; Dang Lam Quang).
        leftover *= 1.0 + COMMON_NAME_FACTOR * math.log(max(1.0, pa.namesakes / COMMON_NAME_FLOOR))
    return total / (weight + MISSING_TOKEN_WEIGHT * leftover)


def name_score(
    a: _Name, b: _Name, pa: _Profile | None = None, pb: _Profile | None = None, frequencies: _Frequencies | None = None
) -> float:
    """How alike two prepared names are, 0-100 (see the module's docstring). ``pa`` and ``pb``: the
    names' profiles (by default tokens weigh their length); ``frequencies``: to tell whether ``a``'s
    two tokens run together are a known name (none by default)."""
    if a.plain == b.plain or fuzz.token_sort_ratio(a.plain, b.plain) >= 100.0:
        return 100.0
    pa = pa or _by_length(a)
    pb = pb or _by_length(b)
    abjad = a.abjad or b.abjad
    variants = frequencies.variants if frequencies is not None else frozenset()
    sound_names = frequencies.sound_names if frequencies is not None else _NO_COUNTS
    spellings = frequencies.spellings if frequencies is not None else _NO_COUNTS
    namesakes = frequencies.namesakes if frequencies is not None else None
    score = _alignment(a, b, pa, pb, abjad, variants, sound_names, spellings, namesakes)
    if len(a.tokens) != len(b.tokens):  # tokens split or run together?
        b_is_longer = len(b.tokens) > len(a.tokens)
        shorter, (longer, pl) = (b, (a, pa)) if not b_is_longer else (a, (b, pb))
        merges = 0
        if len(longer.tokens) <= 5:
            tokens = longer.tokens
            for i in range(len(tokens) - 1):
                # Only where the two tokens run together look like a token of the other name.
                length = len(tokens[i]) + len(tokens[i + 1])
                if any(t[0] == tokens[i][0] and abs(len(t) - length) <= 2 for t in shorter.tokens):
                    merged = _merged(longer, i)
                    merged_profile = (
                        _merged_profile(pl, i)
                        if frequencies is None
                        else _merged_profile(
                            pl,
                            i,
                            longer is a and frequencies.known(merged.tokens[i]),
                            frequencies.pair(tokens[i : i + 2]),
                        )
                    )
                    aligned = (
                        _alignment(a, merged, pa, merged_profile, abjad, variants, sound_names, spellings, namesakes)
                        if b_is_longer
                        else _alignment(
                            merged, b, merged_profile, pb, abjad, variants, sound_names, spellings, namesakes
                        )
                    )
                    score = max(score, aligned - MERGE_PENALTY)
                    merges += 1
        if not merges and min(len(a.tokens), len(b.tokens)) == 1:
            # A name written in one word against the same in words (Abdulrahman / Abdul Rahman).
            score = max(score, fuzz.ratio(a.compact, b.compact) - MERGE_PENALTY)
        # A name written as one word (Han or Hangul through anyascii: xijinping, gimjeongeun) against
        # the same in words: compare the sounds, spelling differs between romanisations.
        if min(len(a.tokens), len(b.tokens)) == 1 and min(len(a.compact_phon), len(b.compact_phon)) >= 5:
            score = max(score, fuzz.ratio(a.compact_phon, b.compact_phon) - COMPACT_PHONETIC_DISCOUNT)
    return max(0.0, min(100.0, score))


def _dob(candidate: str | None, dates: Sequence[str]) -> tuple[bool | None, float]:
    if not candidate or not dates:
        return None, 0.0
    best: tuple[bool | None, float] = (False, -1000.0)
    for date in dates:
        n = min(len(candidate), len(date))
        if candidate[:n] == date[:n]:
            adjust = DOB_FULL_MATCH if n >= 10 else DOB_MONTH_MATCH if n >= 7 else DOB_YEAR_MATCH
            found: tuple[bool | None, float] = (True, adjust)
        elif n >= 10 and candidate[:4] == date[:4] and candidate[5:7] == date[8:10] and candidate[8:10] == date[5:7]:
            found = (True, DOB_SWAPPED)
        else:
            try:
                years = abs(int(candidate[:4]) - int(date[:4]))
            except ValueError:
                continue
            # Parts that differ, of those both dates give: one is a slip or an approximate list date.
            differing = (
                (years != 0) + (n >= 7 and candidate[5:7] != date[5:7]) + (n >= 10 and candidate[8:10] != date[8:10])
            )
            if years <= 1 and differing <= 1:
                found = (False, DOB_NEAR)
            else:
                found = (False, DOB_SAME_YEAR if years <= 1 else DOB_MISMATCH)
        if found[1] > best[1]:
            best = found
    return best if best[1] > -1000.0 else (None, 0.0)


def _year(date: str | None) -> int | None:
    if not date or len(date) < 4 or not date[:4].isdigit():
        return None
    return int(date[:4])


def _country(candidate: str | None, countries: Sequence[str]) -> tuple[bool | None, float]:
    if not candidate or not countries:
        return None, 0.0
    if candidate.lower() in countries:
        return True, COUNTRY_MATCH
    return False, COUNTRY_MISMATCH


# --- the screener -----------------------------------------------------------------------------------------


class _Frequencies:
    """How many of the people a screener knows carry each token (the list's entries, each counted
    once whatever its aliases, and the population given: the client base), by the token's sound
    (transliterations of one name together) and as spelled."""

    def __init__(self) -> None:
        self.people = 0
        self.sounds: Counter[str] = Counter()
        self.spellings: Counter[str] = Counter()
        self._profiles: dict[str, tuple[float, bool]] = {}
        self._parts: dict[str, frozenset[tuple[str, str]]] = {}
        self.pairs: Counter[tuple[str, str]] = Counter()
        self.variants: set[tuple[str, str]] = set()  # two spellings of one name (see learn_variants)
        self.tokens: Counter[str] = Counter()  # people carrying each token (not run together)
        self.sound_names: dict[str, int] = {}  # known names by phonetic key (see count_sound_names)

    def count(self, names: Iterable[Sequence[str]]) -> None:
        """One person, by the tokens of their names."""
        tokens: set[str] = set()
        spellings: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        for name in names:
            tokens.update(name)
            pairs.update((x, y) if x < y else (y, x) for x, y in itertools.combinations(name, 2))
            # Also two neighbours run together: a given name written in two words (Chia Hao).
            spellings.update(x + y for x, y in itertools.pairwise(name))
        if not tokens:
            return
        self.people += 1
        self.tokens.update(tokens)
        self.spellings.update(tokens | spellings)
        self.sounds.update({_sound(t) for t in tokens})
        self.pairs.update(pairs)

    def learn_variants(self, names: Sequence[_Name]) -> None:
        """Spellings of one name from one entry's names in Latin letters (an alias in another
        romanisation: Yuri Kuchev / Iouri Koutchev): tokens that are each other's closest, alike enough,
        in two names that differ in two tokens or more (Chen Hsin-Min / Cheng Hsin-Min is more likely
        another surname than another romanisation)."""
        latin = [n.tokens for n in names if not n.abjad]
        for a, b in itertools.combinations(latin, 2):
            if sum(x not in b for x in a) < 2:
                continue  # one token other: more likely another surname (an alias) than another romanisation
            for x in a:
                if x in b:
                    continue
                y = max(b, key=lambda t: fuzz.ratio(x, t))
                if (
                    y not in a
                    and fuzz.ratio(x, y) >= VARIANT_SIMILARITY
                    and OSA.distance(x, y) <= max(2.0, min(len(x), len(y)) * VARIANT_EDITS)
                    and max(a, key=lambda t: fuzz.ratio(y, t)) == x
                ):
                    self.variants.add((x, y) if x < y else (y, x))

    def count_sound_names(self) -> None:
        """How many known names (tokens of at least KNOWN_NAME people) share each phonetic key: once
        every name is counted."""
        names: Counter[str] = Counter()
        for token, people in self.tokens.items():
            if people >= KNOWN_NAME:
                names.update(_sounds(token))
        self.sound_names = dict(names)

    def namesakes(self, tokens: Sequence[str]) -> int:
        """How many people carry all these tokens, at most: the fewest carrying any two of them."""
        if len(tokens) == 1:
            return max(1, self.spellings.get(tokens[0], 0))
        pairs = self.pairs
        return max(1, min(pairs.get((x, y) if x < y else (y, x), 0) for x, y in itertools.combinations(tokens, 2)))

    def known(self, token: str) -> bool:
        return self.spellings.get(token, 0) >= KNOWN_NAME

    def token(self, token: str) -> tuple[float, bool]:
        """A token's weight (inverse document frequency of its sound) and whether it is a known name."""
        found = self._profiles.get(token)
        if found is None:
            df = self.sounds.get(_sound(token), 0)
            weight = max(MIN_WEIGHT, math.log((self.people + 1) / (df + 1)))
            found = self._profiles[token] = (weight, self.spellings.get(token, 0) >= KNOWN_NAME)
        return found

    def pair(self, tokens: Sequence[str]) -> frozenset[tuple[str, str]]:
        """Two tokens as the parts of one run together, if both are known names."""
        x, y = tokens
        known = self.spellings.get(x, 0) >= KNOWN_PART and self.spellings.get(y, 0) >= KNOWN_PART
        return frozenset({(x, y)}) if known else frozenset()

    def parts(self, token: str) -> frozenset[tuple[str, str]]:
        """The ways of reading a token as two known names run together (hsinmin: hsin, min; isheng:
        i, sheng)."""
        found = self._parts.get(token)
        if found is None:
            spellings = self.spellings
            found = self._parts[token] = frozenset(
                (token[:i], token[i:])
                for i in range(1, len(token))
                if spellings.get(token[:i], 0) >= KNOWN_PART
                and spellings.get(token[i:], 0) >= KNOWN_PART
                and (i > 1 or token[0] in SYLLABLE_LETTERS)
                and (i < len(token) - 1 or token[-1] in SYLLABLE_LETTERS)
            )
        return found

    def profile(self, name: _Name, *, candidate: bool) -> _Profile:
        """The name's profile; which of its tokens are known names is told of a candidate's only."""
        found = [self.token(t) for t in name.tokens]
        return _Profile(
            tuple(w for w, _ in found),
            tuple(k and candidate for _, k in found),
            tuple((_sound(t),) for t in name.tokens),
            tuple(self.parts(t) for t in name.tokens),
            self.namesakes(name.tokens),
            tuple(self.spellings.get(t, 0) >= COMMON_TOKEN for t in name.tokens),
        )


class Screener:
    """An index of list entries, built once; ``screen`` compares one candidate against it.

    ``threshold``: the least score (name score plus corroboration) reported as a hit.
    ``population``: the names of the people to be screened (the client base), counted with the
    list's for the tokens' frequencies (how little a common surname or given name tells).
    """

    def __init__(
        self, entries: Iterable[ListEntry], *, threshold: float = DEFAULT_THRESHOLD, population: Iterable[str] = ()
    ) -> None:
        self.threshold = threshold
        self._frequencies = _Frequencies()
        self.entries: list[ListEntry] = []
        # One record per distinct normalised name of an entry (its name and aliases).
        self._record_entry: list[int] = []
        self._record_name: list[str] = []
        self._records: list[_Name] = []
        self._plains: list[str] = []
        self._phons: list[str] = []
        self._compacts: list[str] = []
        self._one_word_compacts: list[str] = []  # the same for one-word names, "" for the others
        self._countries: list[list[str]] = []
        self._years_lo: list[int] = []  # by record: its entry's years of birth, widened by one
        self._years_hi: list[int] = []
        self._index: defaultdict[str, list[int]] = defaultdict(list)
        self._entry_numbers: dict[str, int] = {}
        self._entry_records: list[list[int]] = []  # the records of each entry
        gc_was_enabled = gc.isenabled()
        gc.disable()  # the index is millions of small objects and no cycles: no collections while building
        try:
            for entry in entries:
                self._add(entry)
            for name in population:
                self._frequencies.count([_core_tokens(name)])
            self._frequencies.count_sound_names()
            self._profiles = [self._frequencies.profile(record, candidate=False) for record in self._records]
        finally:
            if gc_was_enabled:
                gc.enable()

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def record_count(self) -> int:
        """Names filed in the index (entries times their distinct names and aliases)."""
        return len(self._records)

    @property
    def key_count(self) -> int:
        return len(self._index)

    def _add(self, entry: ListEntry) -> None:
        number = len(self.entries)
        self.entries.append(entry)
        self._countries.append([c.lower() for c in entry.countries])
        years = [y for y in map(_year, entry.birth_dates) if y is not None]
        # The years of birth a candidate may have without a date mismatch (DOB_MISMATCH): any, if none.
        year_lo, year_hi = (min(years) - 1, max(years) + 1) if years else (0, 9999)
        self._entry_records.append([])
        self._entry_numbers.setdefault(entry.entry_id, number)
        seen: set[str] = set()
        names: list[tuple[str, ...]] = []
        prepared: list[_Name] = []
        index = self._index
        for raw in entry.names:
            name = _prepare(raw)
            if name is None or name.plain in seen:
                continue
            seen.add(name.plain)
            names.append(name.tokens)
            prepared.append(name)
            record = len(self._records)
            self._records.append(name)
            self._record_entry.append(number)
            self._years_lo.append(year_lo)
            self._years_hi.append(year_hi)
            self._entry_records[number].append(record)
            self._record_name.append(raw)
            self._plains.append(name.plain)
            self._phons.append(name.phon)
            self._compacts.append(name.compact_phon)
            self._one_word_compacts.append(name.compact_phon if len(name.tokens) == 1 else "")
            for key in _blocking_keys(name, indexing=True):
                index[key].append(record)
        self._frequencies.count(names)
        if any(not name.abjad for name in prepared):
            # The list's own romanisation is there: its abjad name makes no strong match by consonants.
            records = self._records
            for record in self._entry_records[number]:
                if records[record].abjad:
                    records[record] = records[record]._replace(romanised=True)
        if len(prepared) > 1:
            self._frequencies.learn_variants(prepared)

    def _score(self, name: _Name, profile: _Profile, record: int) -> float:
        return name_score(name, self._records[record], profile, self._profiles[record], self._frequencies)

    def block(self, name: str) -> set[int]:
        """The records (names) a name is compared with: those sharing a blocking key with it."""
        prepared = _prepare(name)
        return set() if prepared is None else self._block(prepared)

    def _block(self, name: _Name) -> set[int]:
        found: set[int] = set()
        index = self._index
        for key in _blocking_keys(name, indexing=False):
            postings = index.get(key)
            if postings is not None and len(postings) <= (RARE_KEY_CAP if key[0] == "r" else KEY_CAP):
                found.update(postings)
        return found

    def _shortlist(self, name: _Name, block: set[int], candidate: Candidate | None = None) -> Iterable[int]:
        """The records of the block worth scoring: rapidfuzz (C++) estimates of the name score, kept
        where the estimate, with the candidate's corroboration by that entry, can reach the
        threshold (with no candidate, the largest corroboration there is)."""
        records = list(block)
        year = _year(candidate.birth_date) if candidate is not None else None
        if year is not None and 100.0 + DOB_MISMATCH + COUNTRY_MATCH < self.threshold:
            # Entries born years away from the candidate cannot reach the threshold, however alike
            # the names: left out before any comparison (most of a block, as most people have a date).
            lo, hi = self._years_lo, self._years_hi
            records = [r for r in records if lo[r] <= year <= hi[r]]
        if len(records) <= SMALL_BLOCK:
            return records
        cutoff = self.threshold - MAX_BONUS - PREFILTER_SLACK
        estimates: dict[int, float] = {}
        plains = self._plains
        choices = [plains[r] for r in records]
        # Tokens sorted (reordered names), and as written: a typo in a first letter upsets the
        # sorting (Masrk Bacheco / Mark Pacheco: 48 sorted, 88 as written). The alignment can score
        # above both: hence the slack.
        for scorer in (fuzz.token_ratio, fuzz.ratio):
            for _, score, i in process.extract(name.plain, choices, scorer=scorer, score_cutoff=cutoff, limit=None):
                record = records[i]
                estimates[record] = max(estimates.get(record, 0.0), score + ESTIMATE_SLACK)
        # Sounds: transliterations that spelling finds far apart.
        phons = self._phons
        for _, _, i in process.extract(
            name.phon,
            [phons[r] for r in records],
            scorer=fuzz.token_ratio,
            score_cutoff=PHONETIC_PREFILTER,
            limit=None,
        ):
            estimates[records[i]] = 100.0  # no estimate: kept unless corroboration rules it out
        # name_score compares space-less sounds only when one of the names is one word.
        compacts = self._compacts if len(name.tokens) == 1 else self._one_word_compacts
        for _, _, i in process.extract(
            name.compact_phon,
            [compacts[r] for r in records],
            scorer=fuzz.ratio,
            score_cutoff=cutoff + COMPACT_PHONETIC_DISCOUNT,
            limit=None,
        ):
            estimates[records[i]] = 100.0
        if candidate is None:
            return estimates.keys()
        keep = []
        corroboration: dict[int, float] = {}  # by entry
        for record, estimate in estimates.items():
            number = self._record_entry[record]
            adjust = corroboration.get(number)
            if adjust is None:
                adjust = corroboration[number] = self._corroboration(candidate, number)
            if estimate + adjust >= self.threshold:
                keep.append(record)
        return keep

    def _corroboration(self, candidate: Candidate, number: int) -> float:
        return (
            _dob(candidate.birth_date, self.entries[number].birth_dates)[1]
            + _country(candidate.country, self._countries[number])[1]
        )

    def screen(self, candidate: Candidate) -> list[Hit]:
        """The entries that ``candidate`` may be, best first."""
        name = _prepare(candidate.name)
        if name is None:
            return []
        block = self._block(name)
        if not block:
            return []
        floor = self.threshold - MAX_BONUS
        profile = self._frequencies.profile(name, candidate=True)
        best: dict[int, tuple[float, int]] = {}  # entry -> (name score, record)
        for record in self._shortlist(name, block, candidate):
            score = self._score(name, profile, record)
            if score < floor:
                continue
            entry = self._record_entry[record]
            current = best.get(entry)
            if current is None or score > current[0]:
                best[entry] = (score, record)
        hits = []
        for number, (score, record) in best.items():
            hit = self._hit(candidate, number, score, record)
            if hit.score >= self.threshold:
                hits.append(hit)
        hits.sort(key=lambda h: (-h.score, h.entry_id))
        return hits

    def _hit(self, candidate: Candidate, number: int, score: float, record: int) -> Hit:
        entry = self.entries[number]
        dob_match, dob_adjust = _dob(candidate.birth_date, entry.birth_dates)
        country_match, country_adjust = _country(candidate.country, self._countries[number])
        return Hit(
            client_id=candidate.client_id,
            entry_id=entry.entry_id,
            score=round(max(0.0, min(100.0, score + dob_adjust + country_adjust)), 2),
            name_score=round(score, 2),
            matched_name=self._record_name[record],
            dob_match=dob_match,
            country_match=country_match,
        )

    def compare(self, candidate: Candidate, entry_id: str) -> Hit:
        """The candidate scored against one entry of the index, with no blocking and no threshold
        (to explain a hit, or why there is none)."""
        return self._compare(candidate, entry_id)[0]

    def _compare(self, candidate: Candidate, entry_id: str) -> tuple[Hit, int]:
        number = self._entry_numbers[entry_id]
        name = _prepare(candidate.name)
        scored = [
            (
                self._score(name, self._frequencies.profile(name, candidate=True), record) if name is not None else 0.0,
                record,
            )
            for record in self._entry_records[number]
        ]
        if not scored:
            raise ValueError(f"entry {entry_id} has no usable name")
        score, record = max(scored)
        return self._hit(candidate, number, score, record), record

    def explain(self, candidate: Candidate, entry_id: str) -> tuple[Hit, str]:
        """``compare``, and where screening leaves the entry's best name for this candidate:
        "blocking" (not among the names compared), "filter" (dropped by the C++ lower bounds, or born years apart),
        "threshold" (scored below it) or "hit"."""
        hit, record = self._compare(candidate, entry_id)
        name = _prepare(candidate.name)
        block = self._block(name) if name is not None else set()
        if name is None or record not in block:
            return hit, "blocking"
        if record not in set(self._shortlist(name, block, candidate)):
            return hit, "filter"
        return hit, "hit" if hit.score >= self.threshold else "threshold"

    def funnel(self, name: str) -> tuple[int, int, int, int]:
        """A diagnostic of the filtering for one name: (names in its block, names left after the C++
        filter, of these the ones scoring at least the threshold less the largest corroboration,
        the same count over the whole block: more here means the C++ filter lost some)."""
        prepared = _prepare(name)
        if prepared is None:
            return 0, 0, 0, 0
        block = self._block(prepared)
        shortlist = set(self._shortlist(prepared, block))
        floor = self.threshold - MAX_BONUS
        profile = self._frequencies.profile(prepared, candidate=True)
        passing = {r for r in block if self._score(prepared, profile, r) >= floor}
        return len(block), len(shortlist), len(passing & shortlist), len(passing)

    def screen_many(
        self, candidates: Iterable[Candidate], *, processes: int = 1, chunk_size: int = 2_000
    ) -> Iterator[Hit]:
        """The hits of every candidate, candidate by candidate in the order given.

        ``processes > 1`` screens chunks of candidates in forked worker processes, which share this
        screener's index copy-on-write (where the platform has ``fork`` and this process may have
        children: not in a daemonic one such as a Celery prefork worker; otherwise one process). The
        workers freeze what they inherit out of the garbage collector's sight (``gc.freeze``): the
        index is millions of objects that collections would otherwise walk again and again.
        """
        if (
            processes <= 1
            or "fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon  # a Celery prefork worker may not have children
        ):
            for candidate in candidates:
                yield from self.screen(candidate)
            return
        # Forked, the workers get this screener as it is in memory (initargs are not pickled).
        with multiprocessing.get_context("fork").Pool(processes, initializer=_start_worker, initargs=(self,)) as pool:
            for hits in pool.imap(_screen_chunk, _chunks(candidates, chunk_size)):
                yield from hits


_shared: Screener | None = None  # the screener of a screen_many worker process


def _start_worker(screener: Screener) -> None:
    global _shared
    _shared = screener
    gc.freeze()


def _screen_chunk(chunk: list[Candidate]) -> list[Hit]:
    assert _shared is not None
    screen = _shared.screen
    return [hit for candidate in chunk for hit in screen(candidate)]


def _chunks(items: Iterable[Candidate], size: int) -> Iterator[list[Candidate]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
