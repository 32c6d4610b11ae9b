"""The local sandbox: a moto server taught the AWS behaviours vivr-provision relies on.

Kept apart from the product on purpose: ``vivr_provision`` never imports this
package (the CLI loads :mod:`vivr_sandbox.cli` only when the ``sandbox``
command runs), so nothing on the product's AWS code path can learn it talks
to an emulator.  Installed with the ``sandbox`` extra (moto).

* :mod:`vivr_sandbox.server`: the moto server in one process, accounts per
  access key, the request recorder the tests read.
* :mod:`vivr_sandbox.fixes`: one module per service of fixes to moto 5.2.5.
* :mod:`vivr_sandbox.catalog`: AWS's catalogs moto does not serve (engine
  versions, orderable classes, TLS policies).
* :mod:`vivr_sandbox.dns`: the public DNS view that ACM validation needs.
* :mod:`vivr_sandbox.timing`: AWS's pace, optionally (``--timing PROFILE``):
  transitional states for real durations, AWS's request token buckets.
* :mod:`vivr_sandbox.cli`: ``vivr-provision sandbox start|stop|status``.
"""
