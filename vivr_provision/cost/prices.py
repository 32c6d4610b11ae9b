"""The price table (``prices.yaml``, shipped with the package) and its look-ups.

Prices are data so a changed AWS rate is a one-line edit with its source and
date beside it; this module only reads and answers "what does X cost in
region R".  A size with no row is an error, never a silent zero: an estimate
that drops the line it cannot price understates the bill without saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from vivr_provision.errors import ConfigError

PRICE_FILE = "prices.yaml"
GLOBAL = "global"


class PriceNotFound(ConfigError):
    """The config names a size or region the price table has no row for (exit 2)."""


@dataclass(frozen=True)
class Price:
    key: str
    size: str
    unit: str
    usd: float
    region: str
    source: str
    checked: str
    verified: bool


@dataclass(frozen=True)
class Usage:
    """A volume the config cannot give (traffic, stored data), and where it comes from."""

    value: float
    origin: str


@dataclass(frozen=True)
class PriceTable:
    checked: str
    currency: str
    prices: dict[tuple[str, str, str], Price]
    usage: dict[str, Usage]
    not_estimated: tuple[str, ...]

    def price(self, key: str, region: str, size: str = "", what: str | None = None) -> Price:
        """The row for ``key``/``size`` in ``region`` (or its global row).

        Raises :class:`PriceNotFound` naming what has a price, so the fix
        (another size, or a row added to prices.yaml) is in the message.
        """
        for where in (region, GLOBAL):
            found = self.prices.get((key, size, where))
            if found is not None:
                return found
        priced = sorted({s for (k, s, r) in self.prices if k == key and r in (region, GLOBAL)})
        label = what or key
        detail = f"{label} {size}".strip()
        hint = f" (priced there: {', '.join(priced)})" if priced and size else ""
        raise PriceNotFound(
            f"cost: no price for {detail} in {region} in vivr_provision/cost/{PRICE_FILE}"
            f"{hint}; add its AWS on-demand price there or choose a priced size")


def parse_table(document: dict[str, Any]) -> PriceTable:
    checked = str(document["checked"])
    prices: dict[tuple[str, str, str], Price] = {}
    for row in document["prices"]:
        for region in row["regions"]:
            price = Price(key=row["key"], size=str(row["size"]), unit=row["unit"],
                          usd=float(row["usd"]), region=region, source=row["source"],
                          checked=str(row.get("checked", checked)),
                          verified=bool(row["verified"]))
            prices[(price.key, price.size, region)] = price
    usage = {name: Usage(float(entry["value"]), entry["origin"])
             for name, entry in document["usage"].items()}
    return PriceTable(checked, document["currency"], prices, usage,
                      tuple(document["not_estimated"]))


@cache
def load_prices() -> PriceTable:
    """The table shipped with the package (read once per process)."""
    text = resources.files(__package__).joinpath(PRICE_FILE).read_text(encoding="utf-8")
    return parse_table(yaml.safe_load(text))
