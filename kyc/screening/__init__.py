"""Sanctions and PEP screening: fuzzy name matching of clients against list entries (pure Python, no models)."""

from kyc.screening.matcher import Candidate, Hit, ListEntry, Screener, normalise

__all__ = ["Candidate", "Hit", "ListEntry", "Screener", "normalise"]
