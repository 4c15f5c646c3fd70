"""``sessions``: find, and end, the sessions shared-secret logins created: ``command.py``
(arguments, handler), ``listing.py`` (``list``), ``revoke.py`` (``revoke``)."""
