"""``python -m bridge.msnp chat``: a line-based terminal MSN client on :class:`MSNClient`.

For the other side of the demo and for checking a real server by hand: the contact list with
presence, conversations, incoming messages, typing and nudges, sending text and nudges,
changing status. Everything goes through the library's public API; no protocol code here.
"""

from __future__ import annotations

from typing import Final, TextIO
from collections.abc import Awaitable, Callable
from types import ModuleType
import asyncio
import contextlib
import sys
import threading
import time

from .client import MSNClient
from .config import ClientConfig
from .errors import MSNPException
from .events import (
    Disconnected,
    Event,
    NudgeReceived,
    OtherMessageReceived,
    PersonalMessageChanged,
    PresenceChanged,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from .values import Contact, DisconnectReason, Lists, Status

__all__ = ["HELP", "STATUS_NAMES", "ChatApp", "run"]

#: ``/status`` names -> statuses.
STATUS_NAMES: Final = {
    "online": Status.ONLINE,
    "busy": Status.BUSY,
    "away": Status.AWAY,
    "brb": Status.BE_RIGHT_BACK,
    "phone": Status.ON_THE_PHONE,
    "lunch": Status.OUT_TO_LUNCH,
    "idle": Status.IDLE,
    "invisible": Status.HIDDEN,
}

HELP: Final = """\
commands:
  /contacts, /c          your contacts and their status
  /open WHO, /o WHO      talk to WHO (an address, or the start of a name or address)
  /who                   the conversations open now
  /nudge [WHO]           send a nudge (to the current conversation by default)
  /status STATE          online, busy, away, brb, phone, lunch, idle or invisible
  /nick NAME             change your display name
  /psm TEXT              set your personal message (MSNP11 and newer)
  /help                  this help
  /quit, /q              sign out and quit (Ctrl-D too)
anything else is sent to the current conversation"""

#: Print "X is typing" at most this often per contact (clients repeat it every few seconds).
TYPING_REPEAT: Final = 6.0

DISCONNECT_TEXT: Final = {
    DisconnectReason.OTHER_LOCATION: "you signed in from another place",
    DisconnectReason.SERVER_SHUTDOWN: "the server is shutting down",
    DisconnectReason.CONNECTION_LOST: "the connection was lost",
    DisconnectReason.KEEPALIVE_TIMEOUT: "the server stopped answering",
    DisconnectReason.PROTOCOL_ERROR: "the server sent something this client cannot read",
    DisconnectReason.CLIENT: "signed out",
}


class _Terminal:
    """Prints above the input line; reads lines in a daemon thread (so readline works)."""

    def __init__(self, stdin: TextIO, stdout: TextIO, prompt: Callable[[], str]) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.prompt = prompt
        self.interactive = stdin.isatty() and stdout.isatty()
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._reading = False
        self._readline: ModuleType | None = None
        if self.interactive:
            try:
                import readline

                self._readline = readline
            except ImportError:  # pragma: no cover - platforms without readline
                pass

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, args=(loop,), name="chat-input", daemon=True).start()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                if self.interactive:
                    self._reading = True
                    line: str | None = input(self.prompt())
                else:
                    raw = self.stdin.readline()
                    line = raw.rstrip("\r\n") if raw else None
            except EOFError:
                line = None
            except (OSError, ValueError):
                line = None
            finally:
                self._reading = False
            loop.call_soon_threadsafe(self.lines.put_nowait, line)
            if line is None:
                return

    def say(self, text: str) -> None:
        if self.interactive and self._reading:
            typed = self._readline.get_line_buffer() if self._readline is not None else ""
            self.stdout.write(f"\r\x1b[K{text}\n{self.prompt()}{typed}")
        else:
            self.stdout.write(text + "\n")
        self.stdout.flush()


class ChatApp:
    """One signed-in account driven by lines of text."""

    def __init__(
        self, config: ClientConfig, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
    ) -> None:
        self.client = MSNClient(config, self._on_event)
        self.term = _Terminal(stdin, stdout, self._prompt)
        self.current: str | None = None
        self.done = asyncio.Event()
        self.exit_code = 0
        self._typing_seen: dict[tuple[str, str], float] = {}
        self._sends: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        self._ready = False

    # ------------------------------------------------------------------ naming

    def _name(self, passport: str) -> str:
        contact = self.client.contacts.get(passport.lower())
        if contact is not None and contact.friendly_name and contact.friendly_name != passport:
            return contact.friendly_name
        return passport

    def _conversation_name(self, conversation: str) -> str:
        people = self.client.participants(conversation)
        if len(people) <= 1:
            return self._name(people[0] if people else conversation)
        return ", ".join(self._name(p) for p in people)

    def _prompt(self) -> str:
        if self.current is None:
            return "> "
        return f"{self._conversation_name(self.current)}> "

    def _contact_line(self, contact: Contact) -> str:
        groups = [
            self.client.groups[g].name if g in self.client.groups else g for g in contact.groups
        ]
        line = f"  {self._name(contact.passport)} <{contact.passport}>  {contact.status.label}"
        if groups:
            line += f"  [{', '.join(groups)}]"
        if contact.personal_message:
            line += f"  - {contact.personal_message}"
        return line

    def show_contacts(self) -> None:
        contacts = [c for c in self.client.contacts.values() if c.lists & Lists.FORWARD] or list(
            self.client.contacts.values()
        )
        online = [c for c in contacts if c.status is not Status.OFFLINE]
        self.term.say(f"contacts: {len(contacts)}, online: {len(online)}")
        order = sorted(contacts, key=lambda c: (c.status is Status.OFFLINE, c.passport.lower()))
        for contact in order:
            self.term.say(self._contact_line(contact))

    def _find(self, who: str) -> str | None:
        """A passport for ``who``: an address, or the unique start of a name or address."""
        if who.lower() in self.client.contacts:
            return who.lower()
        needle = who.lower()
        matches = [
            c.passport
            for c in self.client.contacts.values()
            if c.passport.lower().startswith(needle) or c.friendly_name.lower().startswith(needle)
        ]
        if len(matches) == 1:
            return matches[0].lower()
        if len(matches) > 1:
            self.term.say(f"! {who!r} could be {', '.join(sorted(matches))}")
            return None
        if "@" in who:
            return who.lower()
        self.term.say(f"! no contact matches {who!r} (/contacts lists them)")
        return None

    # ------------------------------------------------------------------ events

    async def _on_event(self, event: Event) -> None:
        now = time.strftime("%H:%M")
        if isinstance(event, TextMessageReceived):
            if self.current is None:
                self.current = event.conversation
            where = ""
            if event.conversation != self.current:
                where = f" (in {event.conversation}: /open to answer)"
            if event.conversation.startswith("group:"):
                where = f" (group {self._conversation_name(event.conversation)})" + where
            name = event.sender_name or self._name(event.sender)
            self.term.say(f"[{now}] {name}{where}: {event.text}")
            self._typing_seen.pop((event.conversation, event.sender.lower()), None)
        elif isinstance(event, TypingReceived):
            key = (event.conversation, event.sender.lower())
            last = self._typing_seen.get(key, 0.0)
            if time.monotonic() - last >= TYPING_REPEAT:
                self._typing_seen[key] = time.monotonic()
                self.term.say(f"* {self._name(event.sender)} is typing...")
        elif isinstance(event, NudgeReceived):
            bell = "\a" if self.term.interactive else ""
            self.term.say(f"[{now}] * {self._name(event.sender)} sent you a nudge!{bell}")
        elif isinstance(event, OtherMessageReceived) and event.conversation:
            # messages outside a conversation are the server's (e.g. Escargot's "MSG Hotmail"
            # mail notification after login): not something a contact sent
            self.term.say(
                f"[{now}] * {self._name(event.sender)} sent something this client cannot show "
                f"({event.content_type})"
            )
        elif isinstance(event, PresenceChanged) and self._ready and not event.initial:
            self.term.say(f"* {self._name(event.passport)} is now {event.status.label}")
        elif isinstance(event, PersonalMessageChanged) and self._ready:
            if event.personal_message:
                self.term.say(f"* {self._name(event.passport)}: {event.personal_message}")
        elif isinstance(event, SwitchboardJoined) and self._ready:
            if event.conversation.startswith("group:"):
                self.term.say(f"* {self._name(event.passport)} joined {event.conversation}")
        elif isinstance(event, SwitchboardLeft) and not event.idle_timeout:
            self.term.say(f"* {self._name(event.passport)} left the conversation")
        elif isinstance(event, Disconnected) and event.reason is not DisconnectReason.CLIENT:
            self.term.say(f"* disconnected: {DISCONNECT_TEXT.get(event.reason, event.reason)}")
            self.exit_code = 3
            self.done.set()

    # ------------------------------------------------------------------ commands

    async def _sender(self) -> None:
        """Sends one at a time, in order; a failure is reported, not fatal."""
        while True:
            kind, conversation, text = await self._sends.get()
            try:
                if kind == "text":
                    await self.client.send_text(conversation, text)
                else:
                    await self.client.send_nudge(conversation)
                    self.term.say(f"* nudge sent to {self._conversation_name(conversation)}")
            except (MSNPException, OSError, ValueError) as e:
                what = "message" if kind == "text" else "nudge"
                self.term.say(f"! {what} to {self._conversation_name(conversation)} failed: {e}")

    async def handle(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        if not line.startswith("/"):
            if self.current is None:
                self.term.say("! no conversation open: /open WHO first (/help for commands)")
                return
            await self._sends.put(("text", self.current, line))
            return
        command, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        command = command.lower()
        if command in ("q", "quit", "exit"):
            self.done.set()
        elif command in ("h", "help", "?"):
            self.term.say(HELP)
        elif command in ("c", "contacts", "list"):
            self.show_contacts()
        elif command in ("o", "open", "msg"):
            target = self._find(rest) if rest else None
            if target is not None:
                self.current = target
                self.term.say(f"* talking to {self._conversation_name(target)}")
        elif command == "who":
            open_now = self.client.conversations()
            if not open_now:
                self.term.say("* no conversation is open")
            for key in open_now:
                mark = " (current)" if key == self.current else ""
                self.term.say(f"  {key}: {self._conversation_name(key)}{mark}")
        elif command == "nudge":
            target = self._find(rest) if rest else self.current
            if target is None:
                self.term.say("! no conversation open: /nudge WHO or /open WHO first")
            else:
                await self._sends.put(("nudge", target, ""))
        elif command == "status":
            status = STATUS_NAMES.get(rest.lower())
            if status is None:
                self.term.say(f"! /status {'|'.join(STATUS_NAMES)}")
                return
            await self._call(self.client.set_status(status), f"status: {status.label}")
        elif command == "nick" and rest:
            await self._call(self.client.set_friendly_name(rest), f"display name: {rest}")
        elif command == "psm":
            await self._call(
                self.client.set_personal_message(rest), f"personal message: {rest or '(none)'}"
            )
        else:
            self.term.say(f"! unknown command /{command} (/help lists them)")

    async def _call(self, action: Awaitable[None], done: str) -> None:
        try:
            await action
        except (MSNPException, OSError, ValueError) as e:
            self.term.say(f"! failed: {e}")
        else:
            self.term.say(f"* {done}")

    # ------------------------------------------------------------------ main

    async def run(self, email: str, password: str) -> int:
        result = await self.client.login(email, password)
        sender = asyncio.create_task(self._sender(), name="chat-sender")
        try:
            await asyncio.sleep(0.5)  # the initial presence (ILN) follows the login
            self._ready = True
            self.term.say(
                f"Signed in as {result.friendly_name} <{result.passport}> with "
                f"MSNP{result.protocol}. /help lists the commands."
            )
            self.show_contacts()
            self.term.start()
            while not self.done.is_set():
                get_line = asyncio.ensure_future(self.term.lines.get())
                stop = asyncio.ensure_future(self.done.wait())
                finished, _ = await asyncio.wait(
                    {get_line, stop}, return_when=asyncio.FIRST_COMPLETED
                )
                stop.cancel()
                if get_line not in finished:
                    get_line.cancel()
                    break
                line = get_line.result()
                if line is None:
                    break
                await self.handle(line)
            # let queued sends finish before signing out
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), 30)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            await self.client.close()
        return self.exit_code

    async def _drain(self) -> None:
        while not self._sends.empty():
            await asyncio.sleep(0.05)


async def run(config: ClientConfig, email: str, password: str) -> int:
    """Sign in and chat until /quit, end of input or a disconnection; returns the exit code."""
    return await ChatApp(config).run(email, password)
