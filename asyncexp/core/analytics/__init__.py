"""Analysys records, pure: building, the shared envelope and the validation rules.

* :mod:`.records` builds track, alias and profile records from their arguments;
* :mod:`.envelope` holds the parts every record shares (``appid``, ``xwho``,
  ``xwhen``, the library's own ``xcontext`` keys);
* :mod:`.validation` checks names, values and sizes, and states the rules.

May import: asyncexp.core.analytics, asyncexp.errors
Never imported by: asyncexp.core.flags, asyncexp.core.appconfig
"""
