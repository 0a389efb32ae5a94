"""The async shell of asyncexp: every byte that crosses the network or the disk.

* :mod:`.http` and :mod:`.retry`: the one aiohttp session a client owns, and
  the retry policy every request shares;
* :mod:`.datafile_source`: polling a datafile by SDK key or URL;
* :mod:`.collectors`: where events and records go (real-time, batch, log
  files, the disk spool);
* :mod:`.odp`: real-time segments and ODP events;
* :mod:`.appconfig`: AWS AppConfig experiment runs;
* :mod:`.ids`: event ids.

The shell knows the pure core, never the facades built on it: what it must
call back (parse a datafile, apply a config) is passed in.

May import: asyncexp.aio, asyncexp.core, asyncexp.errors
Never imported by: asyncexp.core
"""
