"""Test bed: a real Synapse process and the shared-secret login code of real bridge families."""
