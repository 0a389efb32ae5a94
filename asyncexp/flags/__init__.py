"""The synchronous decision facade: user contexts, decisions and what follows them.

Everything here is a plain call that never awaits. It wraps the pure
:mod:`asyncexp.core.flags` with the parts that touch the outside world
without blocking: the current datafile, the user-profile service, the clock and
ids, the collector's non-blocking ``submit``, notifications and logging.

* :mod:`.user_context`: ``UserContext``, one user's attributes, forced
  decisions and segments; it calls the decider's public methods;
* :mod:`.decider`: ``Decider``, options, profiles, variables and impressions;
* :mod:`.decision`: ``Decision``, what ``decide`` returns;
* :mod:`.cmab`: CMAB answers, the cache and the async resolve that the
  ``decide*_async`` variants await (the prediction request itself is a protocol the
  client fills with :class:`asyncexp.aio.cmab.HttpCmabPredictor`) before the
  synchronous decide;
* :mod:`.notifications`: ``NotificationCenter`` and its listeners;
* :mod:`.parsing`: the datafile parse entry used by the client (GC paused);
* :mod:`.config_view` and :mod:`.config_view_audiences`: the
  Optimizely/Eyeofcloud project-config view.

The async parts (segment fetches, collectors) are reached through small
protocols whose implementations the client passes in, so the runtime graph
has no edge from here to the shell.

May import: asyncexp.core.flags, asyncexp.errors, asyncexp.flags
Types only: asyncexp.aio
Never imported by: asyncexp.core, asyncexp.aio, asyncexp.analytics, asyncexp.testing
"""
