"""The pure, synchronous core of asyncexp.

Nothing under this package awaits, logs, reads the clock, draws random numbers,
starts threads or touches files: time and ids come in as arguments, and
warnings are returned as data for the async shell to log.

* :mod:`asyncexp.core.flags`: Optimizely datafiles, audiences, bucketing,
  decisions and the impression and conversion payloads;
* :mod:`asyncexp.core.analytics`: Analysys records, their envelope and rules;
* :mod:`asyncexp.core.appconfig`: AWS AppConfig runs, rules and assignment.

The three do not import one another: each is a complete, separate model.

May import: asyncexp.core, asyncexp.errors
Never imported by: nothing; every wing may use the core.

``tests/core/test_core_purity.py`` also forbids the impure standard modules;
``tests/architecture/test_wings.py`` enforces the lines above.
"""
