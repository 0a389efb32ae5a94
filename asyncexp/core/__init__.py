"""The pure, synchronous core of asyncexp.

Nothing under this package awaits, logs, reads the clock, draws random numbers,
starts threads or touches files: time and ids come in as arguments, and
warnings are returned as data for the async shell to log. A test parses the
imports of every module here to keep it that way.
"""
