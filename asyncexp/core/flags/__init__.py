"""Optimizely flag decisions, pure: datafile, audiences, bucketing, decide flow, events.

The path of a decision through this package:

* :mod:`.datafile` parses a datafile (JSON text or a mapping) into a
  :class:`~.datafile.ProjectConfig` of :mod:`.entities`, with
  :mod:`.datafile_sections`, :mod:`.rule_builder` and :mod:`.json_input`;
* audiences compile to closures (:mod:`.conditions`, :mod:`.condition_leaves`,
  :mod:`.condition_logic`, :mod:`.semver`);
* :mod:`.decide` runs a flag for a user (:mod:`.decide_checks`: forced
  decisions, whitelists, holdouts; :mod:`.decide_rules`: experiment and rollout
  rules; :mod:`.bucketing`: MurmurHash3 buckets) and returns the
  :mod:`.decision_types` result;
* :mod:`.events` builds the impression and conversion payloads (``UserEvent``);
* :mod:`.experiments` decides one experiment by key for the pre-decide API
  (``activate``, ``get_variation``) of ``asyncexp.compat.optimizely``;
* :mod:`.revision_diff` lists the flags whose definition changed between two
  revisions (OpenFeature's ``flags_changed``).

May import: asyncexp.core.flags, asyncexp.errors
Never imported by: asyncexp.core.analytics, asyncexp.core.appconfig
"""
