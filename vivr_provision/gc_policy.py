"""Keep a command's long-lived objects out of Python's cyclic garbage collector.

Why: a whole-platform apply loads some 25 botocore service models, about
260,000 dicts and lists that botocore keeps for the life of the process, on
top of the modules, classes and pydantic schemas the imports build.  Python's
collector walks every tracked container it holds in its oldest generation on
each full collection, and the heap's growth while the models load set off
five of them: 0.36-0.41 s of the 2.8 s of CPU an apply cost on the sandbox
(measured with ``gc.callbacks``).  ``gc.freeze()`` moves everything tracked
so far into the permanent generation, which no collection walks; with it
after the start and after each new client the full collections fell to one
of ~15 ms.

What it costs: an object frozen while it was cyclic garbage is never
reclaimed, so each freeze can keep what the other threads had just dropped
in a cycle and the collector had not reached (at most one young generation's
worth).  Everything else is freed by reference counting as before; memory
stayed within the same peak RSS.  Only a command enables it (the CLI's
:class:`vivr_provision.cli.run.Run`); a library user's process keeps Python's
collector as it is (a test that runs a command in its own process turns it
on there from then on, which only means fewer full collections).
"""

from __future__ import annotations

import gc


class _Policy:
    """Whether this process froze its start (a class attribute, not a global statement)."""

    enabled = False


def keep_long_lived_out_of_gc() -> None:
    """From now on, freeze what exists whenever :func:`long_lived_made` is called;
    and freeze what the start (imports, config, state) built, now."""
    _Policy.enabled = True
    gc.freeze()


def long_lived_made() -> None:
    """Something kept for the process's life was just built (a client and the service
    model botocore caches for it): freeze it, when the process asked for it."""
    if _Policy.enabled:
        gc.freeze()
