"""The spec's monthly cost table, as the config carries it (``cost.line_items``).

The table is data (``cost.line_items``), so ``vivr-provision cost`` prints the
agreed estimate without calling AWS.  For hourly lines it also shows what
``unit_cost x quantity x hours_per_month`` gives, because the spec's monthly
figures assume about 740 hours, not the 730 AWS bills by: the difference is
shown, not silently "fixed".
"""

from __future__ import annotations

from dataclasses import dataclass

from vivr_provision.config import PlatformConfig


@dataclass(frozen=True)
class CostLine:
    category: str
    service: str
    size: str
    quantity: float
    unit_cost: float
    unit: str
    monthly: float
    recomputed: float | None
    """``unit_cost x quantity x hours_per_month`` for hourly lines, else None."""


def cost_lines(config: PlatformConfig) -> list[CostLine]:
    cost = config.cost
    lines = []
    for item in cost.line_items:
        recomputed = None
        if item.unit == "hour":
            recomputed = round(item.unit_cost * item.quantity * cost.hours_per_month, 2)
        lines.append(CostLine(item.category, item.service, item.size, item.quantity,
                              item.unit_cost, item.unit, item.monthly, recomputed))
    return lines
