"""Drop-in facades with the reference SDKs' names, over the asyncexp wings.

* :mod:`.analysys`: ``AnalysysPythonSdk`` and ``DefaultCollecter`` /
  ``BatchCollecter`` / ``LogCollecter``, the Analysys Python SDK's names and
  argument orders over :class:`~asyncexp.analytics.Analytics` and the
  asyncexp collectors.
* :mod:`.optimizely`: ``Optimizely`` (alias ``OptimizelyCompat``), the
  Optimizely Python SDK client's methods and argument orders (decide and
  pre-decide API, notification center, ``get_optimizely_config``) over an
  owned :class:`~asyncexp.client.Client`.

Each submodule is imported on its own; this package imports none of them.

May import: asyncexp, asyncexp.aio, asyncexp.analytics, asyncexp.client, asyncexp.compat,
  asyncexp.core, asyncexp.errors, asyncexp.flags
Never imported by: any other part of asyncexp
"""

__all__: list[str] = []
