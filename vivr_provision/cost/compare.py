"""The spec's table beside the computed one, and the difference between them explained.

The difference is split so that it adds up exactly (in cents): lines the spec
leaves out, spec lines repriced by what the config builds (by spec service),
and spec lines nothing in the computed table stands for.  Monthly figures are
rounded to cents per line first, and totals are sums of those, so the parts
and the whole agree to the cent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vivr_provision.config import PlatformConfig
from vivr_provision.cost.derive import ComputedLine, computed_lines
from vivr_provision.cost.prices import PriceTable, load_prices
from vivr_provision.cost.spec import CostLine, cost_lines


def cents(value: float) -> float:
    return round(value, 2)


@dataclass(frozen=True)
class Repriced:
    """One spec service: what the spec says, what the config's build costs."""

    spec_line: str
    spec_monthly: float
    computed_monthly: float
    reason: str = ""

    @property
    def difference(self) -> float:
        return cents(self.computed_monthly - self.spec_monthly)


@dataclass(frozen=True)
class Comparison:
    spec: list[CostLine]
    computed: list[ComputedLine]
    table: PriceTable

    @property
    def spec_total(self) -> float:
        return cents(sum(line.monthly for line in self.spec))

    @property
    def computed_total(self) -> float:
        return cents(sum(line.monthly for line in self.computed))

    @property
    def difference(self) -> float:
        return cents(self.computed_total - self.spec_total)

    @property
    def spec_services(self) -> set[str]:
        return {line.service for line in self.spec}

    def reprices(self, line: ComputedLine) -> bool:
        """Whether ``line`` stands for a line of this spec table (else the spec left it out)."""
        return line.spec_line is not None and line.spec_line in self.spec_services

    @property
    def left_out(self) -> list[ComputedLine]:
        """Lines of what the tool builds that the spec's table has no line for."""
        return [line for line in self.computed if not self.reprices(line)]

    @property
    def left_out_total(self) -> float:
        return cents(sum(line.monthly for line in self.left_out))

    @property
    def repriced(self) -> list[Repriced]:
        """Per spec service (in the spec's order), its figure against the computed lines."""
        spec: dict[str, float] = {}
        for line in self.spec:
            spec[line.service] = cents(spec.get(line.service, 0.0) + line.monthly)
        computed: dict[str, float] = {}
        for c in self.computed:
            if c.spec_line is not None and self.reprices(c):
                computed[c.spec_line] = cents(computed.get(c.spec_line, 0.0) + c.monthly)
        return [Repriced(name, total, computed.get(name, 0.0), self._reason(name))
                for name, total in spec.items()]

    def _reason(self, service: str) -> str:
        """What differs when one spec line meets one computed line: unit price or count."""
        specs = [line for line in self.spec if line.service == service]
        mine = [line for line in self.computed if line.spec_line == service]
        if not mine:
            return "nothing built for it"
        if len(specs) != 1 or len(mine) != 1:
            return " + ".join(line.service for line in mine)
        spec, line = specs[0], mine[0]
        if spec.unit == "GB" and spec.quantity != line.quantity:
            return line.derivation
        if spec.unit != "month" and spec.unit_cost != line.unit_price:
            return f"{spec.unit_cost:g} -> {line.unit_price:g}/{line.unit}"
        if spec.unit == "month" and line.unit.endswith("-month"):
            if spec.quantity != line.quantity:
                return f"{spec.quantity:g} -> {line.quantity:g} x {line.unit_price:g}"
            return ""
        if spec.unit == "month":
            return f"{spec.unit_cost:g}/month -> {line.derivation} x {line.unit_price:g}"
        return line.derivation


def compare(config: PlatformConfig, table: PriceTable | None = None) -> Comparison:
    """The spec's table (config ``cost.line_items``) and the lines derived from the config."""
    prices = table or load_prices()
    return Comparison(cost_lines(config), computed_lines(config, prices), prices)


def _computed_row(line: ComputedLine) -> dict[str, Any]:
    row = asdict(line)
    row["monthly"] = line.monthly
    return row


def cost_report(config: PlatformConfig, table: PriceTable | None = None) -> dict[str, Any]:
    """Everything ``cost --output json`` prints.

    ``lines``, ``by_category`` and ``total_monthly`` are the spec's table (as
    before this report grew the computed side); ``computed`` and
    ``difference`` are the config's own estimate and how it departs.
    """
    result = compare(config, table)
    cost = config.cost
    prices = result.table
    return {
        "environment": config.environment,
        "currency": cost.currency,
        "hours_per_month": cost.hours_per_month,
        "lines": [asdict(line) for line in result.spec],
        "by_category": cost.by_category(),
        "total_monthly": result.spec_total,
        "computed": {
            "prices_checked": prices.checked,
            "lines": [_computed_row(line) for line in result.computed],
            "total_monthly": result.computed_total,
            "usage": {name: asdict(u) for name, u in prices.usage.items()},
            "not_estimated": list(prices.not_estimated),
        },
        "difference": {
            "total": result.difference,
            "left_out_by_spec": {
                "lines": [{"service": line.service, "detail": line.detail,
                           "monthly": line.monthly} for line in result.left_out],
                "total": result.left_out_total,
            },
            "repriced": [
                {"spec_line": r.spec_line, "spec_monthly": r.spec_monthly,
                 "computed_monthly": r.computed_monthly, "difference": r.difference,
                 "reason": r.reason}
                for r in result.repriced],
        },
    }
