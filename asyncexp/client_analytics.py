"""``ClientAnalyticsMixin``: the Analysys-style analytics API exposed on ``Client``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from asyncexp.analytics.api import Analytics
from asyncexp.errors import ClientStateError

__all__ = ["ClientAnalyticsMixin"]

P = ParamSpec("P")
R = TypeVar("R")


class _analytics_method(Generic[P, R]):  # noqa: N801 - used like a decorator name
    """Exposes an ``Analytics`` method on ``Client`` with its exact signature."""

    def __init__(self, method: Callable[Concatenate[Analytics, P], R]) -> None:
        self._name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, client: None, owner: type[ClientAnalyticsMixin]) -> Self: ...

    @overload
    def __get__(
        self, client: ClientAnalyticsMixin, owner: type[ClientAnalyticsMixin]
    ) -> Callable[P, R]: ...

    def __get__(
        self, client: ClientAnalyticsMixin | None, owner: type[ClientAnalyticsMixin]
    ) -> Self | Callable[P, R]:
        if client is None:
            return self
        method: Callable[P, R] = getattr(client.analytics, self._name)
        return method


class ClientAnalyticsMixin:
    """The ``analytics`` property and its methods, delegated to ``Client.analytics``."""

    _analytics: Analytics | None  # set by Client.__init__

    @property
    def analytics(self) -> Analytics:
        """The Analysys-style analytics API; needs ``collector=`` and ``app_key=``."""
        if self._analytics is None:
            raise ClientStateError("analytics needs Client(collector=..., app_key=...)")
        return self._analytics

    track = _analytics_method(Analytics.track)
    alias = _analytics_method(Analytics.alias)
    profile_set = _analytics_method(Analytics.profile_set)
    profile_set_once = _analytics_method(Analytics.profile_set_once)
    profile_increment = _analytics_method(Analytics.profile_increment)
    profile_append = _analytics_method(Analytics.profile_append)
    profile_unset = _analytics_method(Analytics.profile_unset)
    profile_delete = _analytics_method(Analytics.profile_delete)
    register_super_properties = _analytics_method(Analytics.register_super_properties)
    unregister_super_property = _analytics_method(Analytics.unregister_super_property)
    clear_super_properties = _analytics_method(Analytics.clear_super_properties)
    get_super_property = _analytics_method(Analytics.get_super_property)
    get_super_properties = _analytics_method(Analytics.get_super_properties)
