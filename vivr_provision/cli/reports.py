"""``cost`` and ``check``: answers from the config alone, no AWS call."""

from __future__ import annotations

from vivr_provision.cli.app import cli
from vivr_provision.cli.options import command
from vivr_provision.settings import CommandOptions, load_effective_config


@cli.command()
@command
def cost(options: CommandOptions) -> int:
    """Monthly cost: the spec's table beside one computed from the config (no AWS call).

    The computed table prices what the config makes the tool build (AWS
    on-demand list prices kept in vivr_provision/cost/prices.yaml), lists the
    lines the spec's table leaves out and explains the difference.  Exit 2
    when the config names a size the price table has no price for.
    """
    from vivr_provision.cost import compare, cost_report  # here, not above: --help stays fast
    from vivr_provision.cost.text import print_cost, print_json

    config = load_effective_config(options)
    if options.output_format == "json":
        print_json(cost_report(config))
        return 0
    print_cost(compare(config), project=config.project, environment=config.environment,
               source=str(options.config_file),
               hours=config.cost.hours_per_month, currency=config.cost.currency)
    return 0


@cli.command()
@command
def check(options: CommandOptions) -> int:
    """Prove the traffic flows and permissions from the config alone (no AWS call).

    Exit 0 when every flow, permission and lint finding holds, 1 naming each
    that does not.  plan and apply run the same check first.
    """
    from vivr_provision.check import print_check, run_check

    report = run_check(load_effective_config(options))
    print_check(report, options.output_format)
    return 0 if report.ok else 1
