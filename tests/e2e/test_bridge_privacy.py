"""Users' secrets and choices on the real stack: names with control characters, portal
commands of someone else's room, a chosen Appear Offline across reconnects and restarts, and
no password, ticket, cookie or token in the log even at TRACE; files with secrets are 0600."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import re
import stat

from bridge.msnp.events import PresenceChanged, Status, TextMessageReceived
from tests.support.harness import Stack, poll


def _assert_no_new_errors(stack: Stack, mark: int) -> None:
    errors = stack.bridge.errors_since(mark)
    assert not errors, "the bridge logged errors:\n" + "\n".join(errors)


@contextlib.contextmanager
def _recording(obj: object, name: str, into: list[str]) -> Iterator[None]:
    """Record what ``obj.name(...)`` returns (secrets the test server hands out)."""
    original: Callable[..., str] = getattr(obj, name)

    def recording(*args: object, **kwargs: object) -> str:
        value = original(*args, **kwargs)
        into.append(value)
        return value

    setattr(obj, name, recording)
    try:
        yield
    finally:
        delattr(obj, name)  # the class's method again


async def test_a_contact_named_with_control_characters_is_bridged(stack: Stack) -> None:
    # PostgreSQL refuses NUL in text: before names were cleaned, every save of this contact
    # failed and its messages were not relayed
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair(contact_name="Evil\x00Bob\u202e\x07")
    stack.msn.account(pair.passport).name = "Own\x00Name\x1b"  # the user's own name (PRP MFN)
    user, mgmt = await stack.logged_in(pair)
    await stack.command(user, mgmt, "ping", "Connected as **OwnName**")
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room, _ = await stack.open_dm(pair, user, bob, "a message from a name with NUL")
    member = await user.wait_for_membership(room, pair.contact_ghost, "join")
    assert member["content"].get("displayname") == "EvilBob (MSN)"
    await bob.client.send_text(pair.passport, "and a second one")
    await user.wait_for_message(room, "and a second one", sender=pair.contact_ghost)
    stored = await stack.db_values(
        f"SELECT friendly_name FROM puppet WHERE passport = '{pair.contact}'"
    )
    assert stored == ["EvilBob"]
    _assert_no_new_errors(stack, log_mark)


async def test_portal_commands_need_the_owner_or_an_admin(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room, _ = await stack.open_dm(pair, user, bob, "hello")
    ghost = pair.contact_ghost
    # another user allowed to use the bridge, invited into the owner's portal
    other = await stack.matrix_user(stack.unique("bystander"))
    await user.api.invite_user(room, other.api.mxid)
    await other.join(room)
    prefix = stack.command_prefix
    for command in ("unbridge", "nudge", "set-pl 100"):
        mark = other.mark(room)
        await other.send_text(room, f"{prefix} {command}")
        reply = await other.wait_for_message(
            room, re.compile("Only the owner"), sender=ghost, after=mark, timeout=20
        )
        assert command.split()[0] in reply["content"]["body"]
    # the room is still bridged, the ghost still in it
    await bob.client.send_text(pair.passport, "still bridged")
    await user.wait_for_message(room, "still bridged", sender=ghost, timeout=20)
    membership = user.room_state(room, "m.room.member", ghost)
    assert membership is not None and membership["membership"] == "join"

    # the owner may
    await user.send_text(room, f"{prefix} unbridge")
    await user.wait_for_membership(room, ghost, "leave", timeout=20)
    _assert_no_new_errors(stack, log_mark)


async def test_appear_offline_survives_a_dropped_connection_and_a_restart(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)  # watching Alice
    user, mgmt = await stack.logged_in(pair)
    await bob.wait_for_type(
        PresenceChanged, lambda e: e.passport == pair.passport and e.status == Status.ONLINE
    )
    mark = bob.mark()
    await stack.command(user, mgmt, "status invisible", "Appear Offline")
    await bob.wait_for_type(
        PresenceChanged,
        lambda e: e.passport == pair.passport and e.status == Status.OFFLINE,
        after=mark,
    )
    shown = len(stack.msn.shown_as(pair.passport, to=pair.contact))
    mark = bob.mark()

    # the server drops the connection: the bridge comes back hidden
    await stack.msn.drop(pair.passport)
    await user.wait_for_message(mgmt, re.compile("Reconnected to MSN"), timeout=30)
    assert stack.msn.online(pair.passport) == "HDN"

    # the bridge restarts: it comes back hidden
    await stack.restart_bridge()

    async def hidden_again() -> bool:
        return stack.msn.online(pair.passport) == "HDN"

    await poll(hidden_again, 30, "the user signed in again, hidden")
    await stack.command(user, mgmt, "ping", "Connected as")
    # never shown online to Bob: not by the server, and Bob saw no presence of hers
    assert stack.msn.shown_as(pair.passport, to=pair.contact)[shown:] == []
    seen = [e for e in bob.events[mark:] if isinstance(e, PresenceChanged)]
    assert all(e.status == Status.OFFLINE for e in seen if e.passport == pair.passport), seen

    # choosing Online again shows her (the watch above sees what there is to see)
    await stack.command(user, mgmt, "status online", "Online")
    await bob.wait_for_type(
        PresenceChanged,
        lambda e: e.passport == pair.passport and e.status == Status.ONLINE,
        after=mark,
    )
    _assert_no_new_errors(stack, log_mark)


async def test_no_secret_in_the_trace_log(stack: Stack) -> None:
    tickets: list[str] = []
    cookies: list[str] = []
    await stack.restart_bridge_with_log_levels({"": 1, "mau": 1, "msnp": 1})
    try:
        mark = stack.bridge.log_mark()
        with (
            _recording(stack.msn.tickets, "issue", tickets),
            _recording(stack.msn.tickets, "issue_compact", tickets),  # MSNP13+: RST tokens
            _recording(stack.msn, "issue_sb_cookie", cookies),
        ):
            pair = stack.new_pair()
            user = await stack.matrix_user(pair.localpart)
            room = await stack.management_room(user)
            # the password as the answer to the prompt, then in the command itself
            await stack.command(user, room, f"login {pair.passport}", "password")
            await stack.command(user, room, pair.password, "Logged in as")
            await stack.command(user, room, "logout", "Logged out")
            await stack.command(
                user, room, f"{stack.command_prefix} login {pair.passport} {pair.password}",
                "Logged in as",
            )  # fmt: skip
            # a conversation each way: RNG/ANS with a cookie, then XFR SB/USR with one
            bob = await stack.msn_peer(pair.contact, pair.contact_password)
            dm, _ = await stack.open_dm(pair, user, bob, "hello")
            await stack.msn.close_switchboards(pair.passport)
            await user.send_text(dm, "hello back")
            await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "hello back")
            # double puppeting with the user's own access token
            token = user.api.api.token
            await stack.command(user, room, f"login-matrix {token}", "double puppeting")
            stored = await stack.db_values(
                f"SELECT access_token FROM puppet WHERE custom_mxid = '{pair.mxid}'"
            )
            await stack.command(user, room, "logout-matrix", "double puppeting")
            await stack.bridge.wait_quiet(0.5)
        log = stack.bridge.log_since(mark)
    finally:
        await stack.restart_bridge_with_log_levels({"": "DEBUG", "mau": "DEBUG", "msnp": "DEBUG"})
    # the TRACE records were written: received events, message contents, the MSN wire
    assert " TRACE mau.mx: Received event" in log
    assert " TRACE mau.mx: Event " in log
    assert " TRACE msnp.wire: " in log and "<redacted>" in log
    # (Bob's ticket and cookies are in the lists too: they must not be in the log either)
    secrets = {"password": pair.password, "access token": token}
    secrets |= {f"ticket {t}": t for t in tickets} | {f"cookie {c}": c for c in cookies}
    secrets |= {f"token {t}": stack.msn.tickets.token_of(t) for t in tickets}
    assert len(tickets) >= 3 and len(cookies) >= 2
    leaked = [name for name, value in secrets.items() if value in log]
    assert not leaked, f"in the log: {leaked}"
    assert "MSPAuth" not in log
    # and the token is stored encrypted
    assert stored and stored[0] and token not in stored[0]


async def test_files_with_secrets_are_private(stack: Stack) -> None:
    # the bridge created the registration and the database: 0600; the harness wrote the config
    # (0644), the bridge took every user's access away before writing the tokens into it
    created = [stack.registration_path]
    if stack.backend == "sqlite":
        created.append(stack.workdir / "bridge.db")
    for path in created:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(stack.config_path.stat().st_mode) & 0o007 == 0
