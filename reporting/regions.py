"""Client region groupings (the report filter's "region"): each a set of ISO 3166 country codes.
A country is in at most one region; one in none is reported as "Rest of the world"."""

from __future__ import annotations

REGIONS: dict[str, tuple[str, frozenset[str]]] = {
    "uk": ("United Kingdom and Crown dependencies", frozenset({"GB", "IM", "JE", "GG", "GI"})),
    "eea": (
        "European Economic Area",
        frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()),
    ),
    "europe_other": ("Rest of Europe", frozenset("CH AL BA ME MK RS MD UA GE AM AD MC SM VA".split())),
    "americas": (
        "Americas",
        frozenset("US CA MX BR AR CL CO PE UY PY BO EC VE PA CR GT HN SV NI DO JM TT BS BB".split()),
    ),
    "apac": (
        "Asia-Pacific",
        frozenset("SG HK CN JP KR TW MY TH VN ID PH IN AU NZ PK BD LK".split()),
    ),
    "mea": ("Middle East and Africa", frozenset("AE SA QA KW BH OM JO IL EG ZA NG KE MA TN GH TR CY".split()) - {"CY"}),
}
OTHER = "other"
OTHER_LABEL = "Rest of the world"


def region_choices() -> list[tuple[str, str]]:
    return [(code, label) for code, (label, _) in REGIONS.items()] + [(OTHER, OTHER_LABEL)]


def region_of(country: str) -> str:
    for code, (_, countries) in REGIONS.items():
        if country in countries:
            return code
    return OTHER


def region_label(code: str) -> str:
    return REGIONS[code][0] if code in REGIONS else OTHER_LABEL


def countries_in(region: str) -> frozenset[str]:
    """The countries of a region ("other": every country in no region, as an exclusion set)."""
    if region == OTHER:
        return frozenset().union(*(c for _, c in REGIONS.values()))
    return REGIONS[region][1]
