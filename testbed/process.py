"""The child processes the testbed owns: Synapse, a Synapse worker, PostgreSQL and Redis.

All of them are handled alike. Each is started from a plain argument list, with no shell and no
wrapper (``sh -c``, ``runuser``) in between, so the PID held is the program's own and a signal
reaches the program itself. Each is waited for until a readiness check passes, failing early if
the program exits and late if time runs out. Each is stopped with a signal, then SIGKILL after a
grace period. The owners differ only in what "ready" means, which signal stops the program, and
how a failed start is reported; those are arguments here.

Only the standard library is used.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar


def tail(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text``: enough of a log to explain a failure, not all of it."""
    return "\n".join(text.splitlines()[-lines:])


def read_log(path: Path) -> str:
    """The text of a log or output file, or ``""`` if the program has not created it yet."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


class ManagedProcess:
    """One child process: started and waited for by :meth:`start`, ended by :meth:`stop`.

    ``name`` begins the reasons a failed start is reported with (``"Synapse exited with code 1
    during start-up"``). ``stop_signal`` asks the program to stop; after ``stop_grace`` seconds it
    is killed. The object can be started again after :meth:`stop`.
    """

    def __init__(self, name: str, *, stop_grace: float, stop_signal: int = signal.SIGTERM) -> None:
        self.name = name
        self.stop_grace = stop_grace
        self.stop_signal = stop_signal
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def started(self) -> bool:
        """Whether :meth:`start` has run and :meth:`stop` has not since (it may have exited)."""
        return self._popen is not None

    @property
    def pid(self) -> int | None:
        """PID of the program itself (not of a shell), or ``None`` when not started."""
        return self._popen.pid if self._popen is not None else None

    def start(
        self,
        command: Sequence[str],
        *,
        cwd: Path,
        output: Path,
        is_ready: Callable[[], bool],
        timeout: float,
        poll_interval: float,
        failure: Callable[[str], Exception],
        ready_word: str = "ready",
        env: Mapping[str, str] | None = None,
        **popen_kwargs: Any,
    ) -> None:
        """Start ``command`` with its stdout and stderr appended to ``output``; wait until ready.

        If the program exits first, or ``is_ready()`` is still false after ``timeout`` seconds,
        the exception ``failure(reason)`` is raised, built while the program's logs are still as
        it left them; the process is stopped before anything (even ``KeyboardInterrupt``)
        propagates, so a failed start leaves nothing running. ``env`` is the whole environment
        (``None``: ours); ``popen_kwargs`` go to :class:`subprocess.Popen` (e.g. ``user``).
        """
        if self._popen is not None:
            raise RuntimeError(f"{self.name} is already running")
        with open(output, "ab") as out:
            self._popen = subprocess.Popen(  # noqa: S603 - a program we chose, our arguments
                list(command),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                **popen_kwargs,
            )
        try:
            self._wait_until_ready(is_ready, timeout, poll_interval, failure, ready_word)
        except BaseException:
            self.stop()
            raise

    def stop(self, stop_signal: int | None = None) -> None:
        """Send ``stop_signal`` (default: the one given at construction), then SIGKILL if needed.

        Does nothing if not started or already exited; safe to call more than once.
        """
        popen, self._popen = self._popen, None
        if popen is None or popen.poll() is not None:
            return
        popen.send_signal(self.stop_signal if stop_signal is None else stop_signal)
        try:
            popen.wait(timeout=self.stop_grace)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()

    def _wait_until_ready(
        self,
        is_ready: Callable[[], bool],
        timeout: float,
        poll_interval: float,
        failure: Callable[[str], Exception],
        ready_word: str,
    ) -> None:
        assert self._popen is not None
        deadline = time.monotonic() + timeout
        while True:
            returncode = self._popen.poll()
            if returncode is not None:
                raise failure(f"{self.name} exited with code {returncode} during start-up")
            if is_ready():
                return
            if time.monotonic() > deadline:
                raise failure(f"{self.name} was not {ready_word} after {timeout:.0f} s")
            time.sleep(poll_interval)


#: Whatever :class:`Lifecycle` subclass ``with`` starts (``typing.Self`` is Python 3.11+).
_Started = TypeVar("_Started", bound="Lifecycle")


class Lifecycle:
    """Something with ``start()`` and ``close()``, used as a context manager.

    ``with`` starts it and always closes it, including when ``start()`` fails half-way, so nothing
    started inside ``with`` outlives the block.
    """

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Started) -> _Started:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ScratchProcess(Lifecycle):
    """A :class:`ManagedProcess` with a temporary directory of its own.

    :meth:`stop` ends the process and keeps the directory, so a restart finds its data again;
    :meth:`close` also deletes the directory. Subclasses create it with :meth:`_create_directory`
    in ``start()``.
    """

    def __init__(self, process: ManagedProcess) -> None:
        self._process = process
        self._dir: Path | None = None

    @property
    def pid(self) -> int | None:
        """PID of the program itself (not of a shell), or ``None`` when not running."""
        return self._process.pid

    def stop(self, stop_signal: int | None = None) -> None:
        """Stop the process (its stop signal unless given, then SIGKILL); keep the directory."""
        self._process.stop(stop_signal)

    def close(self) -> None:
        """Stop the process and delete the directory. Safe to call more than once."""
        try:
            self.stop()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    def _create_directory(self, prefix: str) -> Path:
        self._dir = Path(tempfile.mkdtemp(prefix=prefix))
        return self._dir
