"""Build every flag's decide plan in the background, one flag per loop step.

A flag's plan (:mod:`asyncexp.core.flags.plan`) is built on its first decide:
about 0.3-0.5 ms per flag, most of it compiling the generated audience checks.
A service whose first request decides 50 flags would stall its loop for tens of
milliseconds on that request. Once the client has started, each new datafile's
plans are built here instead, a flag at a time with a yield to the loop between
flags, so that no single step holds the loop for more than one flag's build.
A decide that comes first simply builds its flag's plan itself, as before.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from asyncexp.core.flags.plan import plan_for

if TYPE_CHECKING:
    from asyncexp.core.flags.datafile import ProjectConfig

__all__ = ["PlanWarmup"]

logger = logging.getLogger("asyncexp.decide")


class PlanWarmup:
    """One background task at a time; a newer datafile replaces an unfinished warm-up."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self.built = 0  # plans built by warm-ups (for tests and stats)

    def start(self, config: ProjectConfig | None) -> None:
        self._started = True
        if config is not None:
            self.schedule(config)

    def schedule(self, config: ProjectConfig) -> None:
        """Warm ``config``'s plans if the client has started and a loop is running."""
        if not self._started or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # applied from a thread without a loop: decides build plans
            return
        previous, self._task = self._task, None
        if previous is not None:
            previous.cancel()
        self._task = loop.create_task(self._warm(config), name="asyncexp-plan-warmup")

    async def _warm(self, config: ProjectConfig) -> None:
        for flag in list(config.flags.values()):
            await asyncio.sleep(0)
            if flag.key in config.plans:
                continue
            try:
                plan_for(config, flag)
            except Exception:  # the flag's first decide meets the same problem and reports it
                logger.debug("plan warm-up stopped at flag %r", flag.key, exc_info=True)
                return
            self.built += 1

    async def wait(self) -> None:
        """Until the current warm-up (if any) has finished."""
        task = self._task
        if task is not None:
            await asyncio.wait({task})

    async def aclose(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # aclose itself was cancelled, not just the warm-up
