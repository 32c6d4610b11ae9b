"""Monthly cost of an environment: the spec's table beside one derived from the config.

``spec`` reads the spec's agreed table (config ``cost.line_items``);
``derive`` prices what the config makes the tool build, with the price table
kept as data in ``prices.yaml``; ``compare`` explains the difference; ``text``
renders it for people.  Nothing here imports boto3, botocore or the steps, so
``vivr-provision cost`` starts fast and makes no AWS call.
"""

from __future__ import annotations

from vivr_provision.cost.compare import Comparison, compare, cost_report
from vivr_provision.cost.derive import ComputedLine, computed_lines
from vivr_provision.cost.prices import PriceNotFound, PriceTable, load_prices
from vivr_provision.cost.spec import CostLine, cost_lines

__all__ = ["Comparison", "ComputedLine", "CostLine", "PriceNotFound", "PriceTable", "compare",
           "computed_lines", "cost_lines", "cost_report", "load_prices"]
