"""The async shell of asyncexp: HTTP, collectors, polling and fetching."""
