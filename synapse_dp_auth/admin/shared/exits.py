"""How every command ends: an exit code, and :class:`CliError` for a mistake the admin can fix."""

from __future__ import annotations

EXIT_OK = 0
#: The command ran and found a problem, or could not do its job (a file, a server).
EXIT_FAILED = 1
#: A mistake in the command line itself (argparse uses 2 too).
EXIT_USAGE = 2


class CliError(Exception):
    """A mistake the admin can fix; the message is printed as one line."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code
