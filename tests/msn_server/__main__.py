"""Run the MSN test server standalone: ``python -m tests.msn_server --demo``."""

from __future__ import annotations

from typing import Any
from pathlib import Path
import argparse
import asyncio
import json
import logging
import signal
import sys

from .fixtures import add_demo_accounts
from .server import MSNServer, ServerConfig
from .state import LIST_CODES, ListFlag

ACCOUNTS_HELP = """\
accounts file (YAML or JSON): a list of
  {email, password, name, groups: [names],
   contacts: ["bob@example.com" | {email, lists: 11 | [FL, AL], groups: [names]}]}
A contact given as a plain address is put on FL+AL (the other side gets RL)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.msn_server",
        description="A protocol-faithful MSN Messenger server (MSNP2-18) for local testing.",
        epilog=ACCOUNTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default %(default)s)"
    )
    parser.add_argument("--ns-port", type=int, default=1863, help="NS port (default %(default)s)")
    parser.add_argument("--ds-port", type=int, default=0, help="dispatch port (0: any free)")
    parser.add_argument("--sb-port", type=int, default=1864, help="SB port (default %(default)s)")
    parser.add_argument(
        "--http-port", type=int, default=8081, help="Passport/nexus port (default %(default)s)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--accounts", type=Path, metavar="FILE", help="accounts file")
    source.add_argument(
        "--demo", action="store_true", help="alice/bob/carol/dave (passwords <name>123)"
    )
    source.add_argument(
        "--seed", type=int, metavar="N",
        help="N accounts user0..user<N-1>@scale.example (see --seed-*)",
    )  # fmt: skip
    parser.add_argument(
        "--seed-contacts",
        type=int,
        default=20,
        metavar="K",
        help="mutual contacts per seeded account (default %(default)s)",
    )
    parser.add_argument(
        "--seed-groups",
        type=int,
        default=2,
        metavar="G",
        help="groups per seeded account (default %(default)s)",
    )
    parser.add_argument("--seed-prefix", default="user", help="default %(default)s")
    parser.add_argument("--seed-domain", default="scale.example", help="default %(default)s")
    parser.add_argument("--seed-password", default="password", help="default %(default)s")
    parser.add_argument(
        "--stats-file", metavar="FILE",
        help="write the server's stats (logins in progress, max, rate, CPU) here as JSON "
        "every --stats-interval seconds; also served at GET /_test/stats",
    )  # fmt: skip
    parser.add_argument("--stats-interval", type=float, default=1.0, metavar="SECONDS")
    parser.add_argument("--escargot", action="store_true", help="mimic Escargot's quirks")
    parser.add_argument("--no-dispatch", action="store_true", help="no dispatch server")
    parser.add_argument("--challenge-interval", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--sb-idle-timeout", type=float, default=300.0, metavar="SECONDS")
    parser.add_argument("--protocol-min", type=int, default=2)
    parser.add_argument("--protocol-max", type=int, default=18)
    parser.add_argument(
        "--nexus-scheme", choices=("none", "http", "https"), default="none",
        help="scheme written into the nexus' DALogin= (the real nexus sends none)",
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help="log every line (DEBUG)")
    return parser.parse_args(argv)


def load_accounts(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        from ruamel.yaml import YAML

        data = YAML(typ="safe").load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of accounts")
    return data


def _lists(value: Any) -> ListFlag:
    if isinstance(value, int):
        return ListFlag(value)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    flags = ListFlag.NONE
    for code in value:
        if code.upper() not in LIST_CODES:
            raise ValueError(f"unknown list {code!r} (expected FL, AL, BL, RL or PL)")
        flags |= LIST_CODES[code.upper()]
    return flags


def apply_accounts(server: MSNServer, accounts: list[dict[str, Any]]) -> None:
    for item in accounts:
        try:
            server.add_account(item["email"], item["password"], item.get("name"))
        except KeyError as e:
            raise ValueError(f"account entry without {e.args[0]!r}: {item!r}") from None
    for item in accounts:
        for name in item.get("groups", []):
            server.add_group(item["email"], name)
        for contact in item.get("contacts", []):
            if isinstance(contact, str):
                contact = {"email": contact}
            server.add_contact(
                item["email"], contact["email"], _lists(contact.get("lists", "FL,AL")),
                contact.get("groups", []),
            )  # fmt: skip


async def serve(args: argparse.Namespace) -> None:
    config = ServerConfig(
        host=args.host,
        ns_port=args.ns_port,
        ds_port=args.ds_port,
        sb_port=args.sb_port,
        http_port=args.http_port,
        dispatch=False if args.no_dispatch else None,
        escargot_mode=args.escargot,
        challenge_interval=args.challenge_interval,
        sb_idle_timeout=args.sb_idle_timeout,
        protocols=range(args.protocol_min, args.protocol_max + 1),
        nexus_dalogin_scheme=None if args.nexus_scheme == "none" else args.nexus_scheme,
        stats_file=str(args.stats_file) if args.stats_file else None,
        stats_interval=args.stats_interval,
    )
    server = MSNServer(config)
    if args.demo:
        add_demo_accounts(server)
    elif args.seed is not None:
        server.seed_accounts(
            args.seed, args.seed_contacts, args.seed_groups, prefix=args.seed_prefix,
            domain=args.seed_domain, password=args.seed_password,
        )  # fmt: skip
    else:
        apply_accounts(server, load_accounts(args.accounts))
    await server.start()
    print(f"dispatch server:     {server.ds_address or '(none)'}")
    print(f"notification server: {server.ns_address}")
    print(f"switchboard server:  {server.sb_address}")
    print(f"passport login:      {server.passport_url}")
    print(f"nexus:               {server.nexus_url}")
    print(f"stats:               {server.http_base}/_test/stats")
    emails = [a.email for a in server.directory.accounts.values()]
    shown = ", ".join(emails[:10]) + (f", ... ({len(emails)} in all)" if len(emails) > 10 else "")
    print(f"accounts:            {shown}")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(args))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
