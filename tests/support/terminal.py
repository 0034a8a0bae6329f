"""A program under a pseudo-terminal, driven like a person at the keyboard (expect-style).

The child gets the pty as its controlling terminal (so ``getpass`` and readline work as on a
real terminal); :meth:`Terminal.expect` waits for a pattern in what it printed (ANSI escapes
removed), :meth:`Terminal.type` sends a line.
"""

from __future__ import annotations

from collections.abc import Sequence
import asyncio
import contextlib
import fcntl
import os
import re
import signal
import struct
import termios
import time

__all__ = ["Terminal"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


class Terminal:
    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: str | None = None) -> None:
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.master = -1
        self.raw = b""
        self.seen = 0  # where the next expect() starts looking
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Terminal:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))

        def controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=self.env,
            cwd=self.cwd,
            preexec_fn=controlling_tty,
        )
        os.close(slave)
        self.master = master
        os.set_blocking(master, False)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(self.master, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                try:
                    data = os.read(self.master, 65536)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: the child closed the terminal
                    return
                if not data:
                    return
                self.raw += data
                self._changed.set()
        finally:
            loop.remove_reader(self.master)
            self._changed.set()

    @property
    def text(self) -> str:
        return _ANSI.sub("", self.raw.decode("utf-8", errors="replace"))

    async def expect(self, pattern: str | re.Pattern[str], timeout: float = 15.0) -> re.Match[str]:
        """The first match of ``pattern`` after the previous expect's match."""
        regex = re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.text, self.seen)
            if match:
                self.seen = match.end()
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self._reader is not None and self._reader.done()):
                raise AssertionError(
                    f"{regex.pattern!r} not printed within {timeout} s; the terminal shows:\n"
                    + self.text[-3000:]
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def send_eof(self) -> None:
        os.write(self.master, b"\x04")

    async def end_input(self, timeout: float = 30.0) -> int:
        """Ctrl-D on an empty line, as a person does: again until the program ends. (A Ctrl-D
        typed while readline is not reading, e.g. while the previous line is being handled, can
        be discarded when readline sets the terminal up again.)"""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            self.send_eof()
            try:
                return await self.wait(min(2.0, max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise

    async def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), 2)
        return code

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
