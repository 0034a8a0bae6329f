"""``help`` and ``version``, replacing mautrix's: the bridge's own commands first; the
framework's commands (double puppeting, relay, room administration) only for admins, apart."""

from __future__ import annotations

from mautrix import __version__ as mautrix_version
from mautrix.bridge.commands import CommandHandler, HelpSection
from mautrix.bridge.commands.handler import command_handlers
from mautrix.types import EventID

from bridge.portal import Portal

from .common import CommandEvent, command_handler

__all__ = ["FRAMEWORK_HEADING", "help_cmd", "help_text", "version"]

SECTION_GENERAL = HelpSection("General", 90, "")  # type: ignore[call-arg]
#: mautrix's commands that every user needs (``cancel`` ends the password prompt of ``login``).
EVERYONE = ("help", "cancel", "version")
FRAMEWORK_HEADING = "Bridge administration (framework commands, for admins)"


def _own(handler: CommandHandler) -> bool:
    return str(getattr(handler._handler, "__module__", "")).startswith("bridge.")


def _where(evt: CommandEvent) -> str:
    if evt.is_management:
        return "This is your chat with the bridge bot: send commands as they are."
    if isinstance(evt.portal, Portal):
        return (
            "This is a chat with an MSN contact: start commands with `$cmdprefix` (they are not "
            "sent to the contact)."
        )
    return "Here, start commands with `$cmdprefix`."


async def help_text(evt: CommandEvent) -> str:
    """The help for what ``evt.sender`` may do where they asked."""
    key = await evt.get_help_key()
    sections: dict[HelpSection, list[str]] = {}
    framework: list[str] = []
    for handler in command_handlers.values():
        if not handler.has_help or not handler.has_permission(key):
            continue
        if not handler.is_enabled_for(evt):
            continue
        line = handler.help + "  "
        if _own(handler):
            sections.setdefault(handler.help_section, []).append(line)
        elif handler.name in EVERYONE:
            sections.setdefault(SECTION_GENERAL, []).append(line)
        elif key.is_admin:  # type: ignore[attr-defined]
            framework.append(line)
    parts = [_where(evt)]
    if not key.is_logged_in:  # type: ignore[attr-defined]
        parts[0] += " More commands appear here once you are logged in (`$cmdprefix+sp login`)."
    for section in sorted(sections, key=lambda s: s.order):  # type: ignore[attr-defined]
        name = section.name  # type: ignore[attr-defined]
        parts.append(f"#### {name}\n" + "\n".join(sections[section]))
    if framework:
        parts.append(f"#### {FRAMEWORK_HEADING}\n" + "\n".join(framework))
    return "\n\n".join(parts)


@command_handler(
    name="help",
    needs_auth=False,
    help_section=SECTION_GENERAL,
    help_text="Show this help.",
)
async def help_cmd(evt: CommandEvent) -> EventID:
    return await evt.reply(await help_text(evt))


@command_handler(
    needs_auth=False,
    help_section=SECTION_GENERAL,
    help_text="Show the bridge's version.",
)
async def version(evt: CommandEvent) -> EventID:
    bridge = evt.processor.bridge
    return await evt.reply(f"{bridge.name} {bridge.version} (mautrix-python {mautrix_version})")
