"""The default symbol groups (the symbols the simulated platform trades), loaded by a data
migration; an admin adds symbols and groups afterwards (Django admin, in their history)."""

from __future__ import annotations

from typing import Any

DEFAULT_SYMBOL_GROUPS: dict[str, tuple[str, list[str]]] = {
    "fx": ("FX majors", ["EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "USDCAD"]),
    "metals": ("Metals", ["XAUUSD", "XAGUSD"]),
    "indices": ("Indices", ["US30", "NAS100", "GER40"]),
}


def sync_symbol_groups(apps: Any) -> None:
    """Create the groups and symbols of the table that do not exist yet (existing ones are left)."""
    group_model = apps.get_model("ib", "SymbolGroup")
    symbol_model = apps.get_model("ib", "Symbol")
    for code, (name, symbols) in DEFAULT_SYMBOL_GROUPS.items():
        group, _ = group_model.objects.get_or_create(code=code, defaults={"name": name})
        for symbol in symbols:
            symbol_model.objects.get_or_create(name=symbol, defaults={"group": group})
