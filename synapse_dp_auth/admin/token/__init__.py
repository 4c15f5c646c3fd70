"""``token``: the token a bridge would send (``command.py``)."""
