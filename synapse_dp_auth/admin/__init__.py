"""The admin half: the command line an admin runs from a shell (``python -m synapse_dp_auth``).

Nothing here runs inside Synapse, and nothing here imports Synapse: every command starts without
loading the homeserver. The module Synapse loads is the package root.

A folder per command (``token/``, ``check_config/``, ``doctor/``, ``appservice/``,
``sessions/``, ``plan/``), each with its arguments and handler in ``command.py``; ``shared/``
holds what several commands use, each piece in one place; ``cli.py`` runs the command asked for.
"""
