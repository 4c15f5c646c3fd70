"""The admin half: the command line an admin runs from a shell (``python -m synapse_dp_auth``).

Nothing here runs inside Synapse, and nothing here imports Synapse: ``token``, ``check-config`` and
``doctor`` start without loading the homeserver. The module Synapse loads is the package root.
"""
