"""``check-config``: this module's entry in homeserver.yaml, checked as Synapse will check it.

``command.py`` (arguments, handler), ``check.py`` (the whole check, in order), ``report.py`` (its
lines and exit code); the findings: ``module_entry.py`` (this module's entry, devture's),
``login_settings.py`` (homeserver settings that decide login types, per bridge family),
``registrations.py`` (appservice registrations); ``path_map.py`` (``--path-map``: paths inside
Synapse's container read from the host).
"""
