"""Command-line checks for an MSN server: ``python -m bridge.msnp check|send ...``."""

from __future__ import annotations

from typing import Final
import argparse
import asyncio
import logging
import sys

from .client import MSNClient
from .config import ClientConfig
from .connection import TRACE
from .errors import (
    AuthError,
    ConnectionClosed,
    DeliveryFailed,
    MSNPError,
    MSNPException,
    ProtocolRefused,
    TransactionTimeout,
)
from .events import Event
from .values import Lists

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_AUTH: Final = 2
EXIT_UNREACHABLE: Final = 3
EXIT_REFUSED: Final = 4
EXIT_NOT_DELIVERED: Final = 5

EPILOG = """\
exit status:
  0  success (send: the message was acknowledged by the switchboard; chat: /quit)
  1  other error (protocol error, server error code, bad arguments)
  2  wrong e-mail address or password (or rejected ticket)
  3  server or Passport service unreachable, or the connection was lost (chat too)
  4  the server supports none of the requested protocol versions
  5  send: the message was not delivered (contact offline, NAK or no ACK in time)

The password is read from --password-file, or else from the first line of stdin.
"""


def _protocols(value: str) -> tuple[int, ...]:
    """``MSNP12``, ``12``, ``8-12`` or ``12,11,7`` -> preference-ordered versions."""
    versions: list[int] = []
    for part in value.upper().replace("MSNP", "").split(","):
        part = part.strip()
        low, sep, high = part.partition("-")
        try:
            if sep:
                versions.extend(range(int(high), int(low) - 1, -1))
            else:
                versions.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad protocol version {value!r}") from None
    if not versions or any(not 2 <= v <= 12 for v in versions):
        raise argparse.ArgumentTypeError("protocol versions must be between MSNP2 and MSNP12")
    return tuple(versions)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.msnp",
        description="Log in to an MSN Messenger server and check that it works.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("check", "log in, print the protocol version, contacts, groups and presence"),
        ("send", "log in and send one message; succeeds only when it was delivered"),
        ("chat", "log in and chat in the terminal (/help inside lists the commands)"),
    ):
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--server", required=True, help="dispatch or notification server HOST:PORT")
        p.add_argument("--email", required=True, help="the account's e-mail address (passport)")
        p.add_argument("--password-file", help="file whose first line is the password")
        p.add_argument(
            "--protocol",
            type=_protocols,
            default=(12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2),
            help="protocol version(s): MSNP12, 7, 8-12 or 12,7 (default: MSNP12 down to 2)",
        )
        auth = p.add_mutually_exclusive_group()
        auth.add_argument("--passport-url", help="Passport 1.4 login URL (MSNP8+)")
        auth.add_argument("--nexus-url", help="Passport nexus URL (MSNP8+; finds the login URL)")
        p.add_argument("--force-scheme", choices=("http", "https"), help="rewrite Passport URLs")
        p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
        p.add_argument(
            "--allow-md5-login",
            action="store_true",
            help="also offer MSNP2-7, whose MD5 login exposes the password to offline guessing",
        )
        p.add_argument("--timeout", type=float, default=20.0, help="seconds per step (default 20)")
        p.add_argument("-v", "--verbose", action="count", default=0, help="-v debug, -vv wire")
        if name == "send":
            p.add_argument("--to", required=True, help="recipient's e-mail address")
            p.add_argument("--text", required=True, help="message text")
    return parser


def _read_password(path: str | None) -> str:
    if path:
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


def _lists(lists: Lists) -> str:
    return (
        ",".join(
            code
            for code, flag in (("FL", 1), ("AL", 2), ("BL", 4), ("RL", 8), ("PL", 16))
            if lists & flag
        )
        or "-"
    )


async def _run(args: argparse.Namespace, password: str) -> int:
    config = ClientConfig(
        server=args.server,
        protocols=args.protocol,
        passport_url=args.passport_url,
        nexus_url=args.nexus_url,
        force_scheme=args.force_scheme,
        verify_tls=not args.insecure,
        allow_md5_login=args.allow_md5_login,
        connect_timeout=args.timeout,
        transaction_timeout=args.timeout,
        switchboard_join_timeout=args.timeout,
        ack_timeout=args.timeout,
    )

    async def handler(event: Event) -> None:
        logging.getLogger("msnp.cli").debug("event %r", event)

    if args.command == "chat":
        from .chat import run as chat

        return await chat(config, args.email, password)
    client = MSNClient(config, handler)
    try:
        result = await client.login(args.email, password)
        if args.command == "check":
            await asyncio.sleep(1.0)  # let the initial presence (ILN) arrive
            print(
                f"logged in as {result.passport} ({result.friendly_name}) using MSNP{result.protocol}"
            )
            print(f"groups: {len(client.groups)}")
            for group in client.groups.values():
                print(f"  {group.id}  {group.name}")
            print(f"contacts: {len(client.contacts)}")
            for contact in sorted(client.contacts.values(), key=lambda c: c.passport.lower()):
                names = [
                    client.groups[g].name if g in client.groups else g for g in contact.groups
                ]
                line = (
                    f"  {contact.passport}  {contact.friendly_name!r}  lists={_lists(contact.lists)}"
                    f"  groups={','.join(names) or '-'}  status={contact.status.label}"
                )
                if contact.personal_message:
                    line += f"  psm={contact.personal_message!r}"
                print(line)
        else:
            await client.send_text(args.to, args.text)
            print(f"delivered to {args.to}")
        return EXIT_OK
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.WARNING
    if args.verbose == 1:
        level = logging.DEBUG
    elif args.verbose >= 2:
        level = TRACE
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        password = _read_password(args.password_file)
    except OSError as e:
        print(f"error: cannot read the password: {e}", file=sys.stderr)
        return EXIT_ERROR
    sending = args.command == "send"
    try:
        return asyncio.run(_run(args, password))
    except AuthError as e:
        print(f"error: login failed: {e}", file=sys.stderr)
        return EXIT_AUTH
    except ProtocolRefused as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_REFUSED
    except (DeliveryFailed, TransactionTimeout) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_NOT_DELIVERED if sending else EXIT_UNREACHABLE
    except MSNPError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_NOT_DELIVERED if sending and e.command in ("CAL", "MSG") else EXIT_ERROR
    except (ConnectionClosed, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except MSNPException as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
