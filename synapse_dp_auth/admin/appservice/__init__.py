"""``appservice``: the appservice double-puppet method, set up: ``command.py`` (arguments,
handler), ``registration.py`` (the registration, built and written), ``next_steps.py`` (what the
admin does with it)."""
