"""The environments a config can describe, kept apart from the config models.

The command line needs this list to parse ``--env`` before it knows which
command runs; importing it from :mod:`vivr_provision.config` would build
every pydantic model (~0.1 s) for ``--help`` too.
"""

ENVIRONMENTS: tuple[str, ...] = ("production", "staging")
