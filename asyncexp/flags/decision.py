"""``Decision``: what ``decide`` returns for one flag."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncexp.core.flags.entities import VariableValues
    from asyncexp.flags.user_context import UserContext

__all__ = ["NOT_READY_REASON", "Decision", "flag_not_found_reason"]

NOT_READY_REASON = "Optimizely SDK not configured properly yet."


def flag_not_found_reason(key: object) -> str:
    return f'No flag was found for key "{key}".'


class Decision:
    """A flag decision: variation, enabled state, cast variables, rule and reasons.

    ``user_context`` is a snapshot of the user context taken when the decision
    was made; later changes to the context do not show here. ``reasons`` is
    filled only with ``DecideOption.INCLUDE_REASONS``, except for the
    "not configured" and "flag not found" reasons, which are always present.

    ``variables``, ``reasons`` and ``user_context`` are each this decision's own
    (changing them changes no other decision); the decide path builds them on first
    read, from values shared immutably by every decision of the same outcome.
    """

    # A plain slotted class: decide_all builds one per flag, so construction cost matters.
    __slots__ = (
        "_ctx",
        "_reasons",
        "_user_context",
        "_values",
        "_variables",
        "enabled",
        "flag_key",
        "rule_key",
        "variation_key",
    )

    def __init__(
        self,
        *,
        variation_key: str | None,
        enabled: bool,
        variables: dict[str, Any],
        rule_key: str | None,
        flag_key: str,
        user_context: UserContext | None,
        reasons: list[str],
    ) -> None:
        self.variation_key = variation_key
        self.enabled = enabled
        self._variables: dict[str, Any] | None = variables
        self._values: VariableValues | None = None
        self.rule_key = rule_key
        self.flag_key = flag_key
        self._user_context: UserContext | None = user_context
        self._ctx: UserContext | None = None
        self._reasons: list[str] | None = reasons

    @classmethod
    def _lazy(
        cls,
        variation_key: str | None,
        enabled: bool,
        values: VariableValues | None,
        rule_key: str | None,
        flag_key: str,
        frozen: UserContext,
        reasons: list[str] | None,
    ) -> Decision:
        """The decide path's constructor: ``values`` (None: no variables) and the frozen
        snapshot are shared; the dicts and the context copy are made on first read."""
        self = cls.__new__(cls)
        self.variation_key = variation_key
        self.enabled = enabled
        self._variables = None
        self._values = values
        self.rule_key = rule_key
        self.flag_key = flag_key
        self._user_context = None
        self._ctx = frozen
        self._reasons = reasons
        return self

    @property
    def variables(self) -> dict[str, Any]:
        variables = self._variables
        if variables is None:
            values = self._values
            variables = self._variables = values.materialize() if values is not None else {}
        return variables

    @variables.setter
    def variables(self, value: dict[str, Any]) -> None:
        self._variables = value

    @property
    def reasons(self) -> list[str]:
        reasons = self._reasons
        if reasons is None:
            reasons = self._reasons = []
        return reasons

    @reasons.setter
    def reasons(self, value: list[str]) -> None:
        self._reasons = value

    @property
    def user_context(self) -> UserContext | None:
        ctx = self._user_context
        if ctx is None and self._ctx is not None:
            ctx = self._user_context = self._ctx._snapshot()
            self._ctx = None
        return ctx

    @user_context.setter
    def user_context(self, value: UserContext | None) -> None:
        self._user_context = value
        self._ctx = None

    @classmethod
    def empty(cls, flag_key: str, user_context: UserContext | None, reasons: list[str]) -> Decision:
        """A decision with no variation (unknown flag, no config)."""
        return cls(
            variation_key=None,
            enabled=False,
            variables={},
            rule_key=None,
            flag_key=flag_key,
            user_context=user_context,
            reasons=reasons,
        )

    def as_dict(self) -> dict[str, Any]:
        """The reference's ``as_json()`` shape."""
        ctx = self.user_context
        return {
            "variation_key": self.variation_key,
            "enabled": self.enabled,
            "variables": self.variables,
            "rule_key": self.rule_key,
            "flag_key": self.flag_key,
            "user_context": ctx.as_dict() if ctx is not None else None,
            "reasons": list(self.reasons),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Decision(flag_key={self.flag_key!r}, variation_key={self.variation_key!r}, "
            f"enabled={self.enabled!r}, rule_key={self.rule_key!r}, variables={self.variables!r}, "
            f"reasons={self.reasons!r})"
        )
