"""AWS AppConfig experiment runs and multi-variant flags, evaluated in-process (pure core).

Modules, in dependency order:

* ``rule_parser``  the rule language's lexer and parser (positions, size limits);
* ``safe_regex``   the vetted regular expressions of ``matches``;
* ``rule_eval``    the compiled, three-valued rule evaluator and ``split``;
* ``run``          the ``get_experiment_run`` model, parser and validation;
* ``flag_constraints`` the attribute ``constraints`` of feature flags;
* ``feature_flags`` the ``AWS.AppConfig.FeatureFlags`` document and its variants;
* ``assignment``   overrides → audience → exposure → weighted choice, and the
  assignment-log event.

Nothing here awaits, logs, reads the clock or touches files; the async shell is
``asyncexp.aio.appconfig``.

May import: asyncexp.core.appconfig, asyncexp.errors
Never imported by: asyncexp.core.flags, asyncexp.core.analytics
"""

from __future__ import annotations

from asyncexp.core.appconfig.assignment import (
    ASSIGNMENT_EVENT_TYPE,
    Reason,
    TreatmentDecision,
    assign,
    build_assignment_event,
)
from asyncexp.core.appconfig.feature_flags import (
    FeatureFlagsDocument,
    FlagDefinition,
    FlagEvaluation,
    Variant,
    parse_feature_flags,
)
from asyncexp.core.appconfig.rule_eval import Rule, compile_rule
from asyncexp.core.appconfig.run import (
    AttributeValue,
    ExperimentDefinitionSnapshot,
    ExperimentRun,
    FlagValue,
    RunResult,
    RunStatus,
    Treatment,
    parse_experiment_run,
)

__all__ = [
    "ASSIGNMENT_EVENT_TYPE",
    "AttributeValue",
    "ExperimentDefinitionSnapshot",
    "ExperimentRun",
    "FeatureFlagsDocument",
    "FlagDefinition",
    "FlagEvaluation",
    "FlagValue",
    "Reason",
    "Rule",
    "RunResult",
    "RunStatus",
    "Treatment",
    "TreatmentDecision",
    "Variant",
    "assign",
    "build_assignment_event",
    "compile_rule",
    "parse_experiment_run",
    "parse_feature_flags",
]
