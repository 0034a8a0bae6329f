"""A Matrix test client with end-to-end encryption of its own, built on python-olm alone.

:class:`EncryptedMatrixClient` is one Matrix device, as Element is one: it uploads signed
identity and one-time keys, creates encrypted direct chats the way Element does
(``m.room.encryption`` in the initial state, ``is_direct``), keeps one Megolm session per room
it writes in and shares it with every device of the room's members over Olm to-device
messages, and decrypts what it receives: Olm to-device messages (the room keys others share
with it) and Megolm room events.

It is written from the Matrix specification (end-to-end encryption: Olm, Megolm, the key
APIs), independently of mautrix's ``mautrix.crypto``, which is what the bridge encrypts with,
so that the two cannot share a bug. Everything it is given is checked as a client must: device
and one-time key signatures, the recipient of an Olm payload, the room of a Megolm payload,
and that a room event names the identity key of the device that shared its room key
(which, in a bridge, is the bridge bot's device also for the ghosts' messages).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable
from dataclasses import dataclass
import json
import re
import secrets
import urllib.parse

from mautrix.api import Method
from mautrix.types import RoomID, UserID
import olm

from tests.support.synapse import MatrixTestClient

__all__ = ["MEGOLM", "OLM", "Device", "EncryptedMatrixClient", "canonical_json"]

OLM = "m.olm.v1.curve25519-aes-sha2"
MEGOLM = "m.megolm.v1.aes-sha2"
V3 = "/_matrix/client/v3"


def canonical_json(obj: Any) -> str:
    """The spec's canonical JSON: sorted keys, no spaces, UTF-8 (what signatures cover)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def verify_signature(obj: dict[str, Any], user_id: str, key_id: str, ed25519: str) -> None:
    """Raise :class:`olm.OlmVerifyError` unless ``obj`` carries a valid signature by
    ``user_id``'s ``key_id`` (an ed25519 key)."""
    signature = obj.get("signatures", {}).get(user_id, {}).get(key_id)
    if not isinstance(signature, str):
        raise olm.OlmVerifyError(f"no signature {key_id} of {user_id}")
    unsigned = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    olm.ed25519_verify(ed25519, canonical_json(unsigned), signature)


@dataclass(frozen=True)
class Device:
    """Another device, as its (verified) device keys describe it."""

    user_id: str
    device_id: str
    curve25519: str
    ed25519: str


@dataclass(frozen=True)
class RoomKey:
    """A Megolm session someone shared with this device, and who shared it."""

    session: olm.InboundGroupSession
    sender: str  # user ID the Olm message came from
    sender_key: str  # curve25519 key of the Olm session that carried it


class EncryptedMatrixClient(MatrixTestClient):
    """:class:`MatrixTestClient` plus one encrypting device (see the module documentation)."""

    def __init__(self, base_url: str, mxid: UserID, token: str) -> None:
        super().__init__(base_url, mxid, token)
        self.account = olm.Account()
        self.device_id = ""
        self.olm_sessions: dict[str, list[olm.Session]] = {}  # by the peer's curve25519 key
        self.room_keys: dict[tuple[str, str], RoomKey] = {}  # by (room, session id)
        self.outbound: dict[str, olm.OutboundGroupSession] = {}  # by room
        self.shared_with: dict[str, set[tuple[str, str]]] = {}  # room -> (user, device)
        self.key_requests: list[dict[str, Any]] = []  # m.room_key_request to-device events
        self.to_device_errors: list[str] = []

    # --- keys -------------------------------------------------------------------------------

    @property
    def curve25519(self) -> str:
        return str(self.account.identity_keys["curve25519"])

    @property
    def ed25519(self) -> str:
        return str(self.account.identity_keys["ed25519"])

    def _signed(self, obj: dict[str, Any]) -> dict[str, Any]:
        signature = self.account.sign(canonical_json(obj))
        return {**obj, "signatures": {self.mxid: {f"ed25519:{self.device_id}": signature}}}

    async def _request(self, method: Method, path: str, body: Any = None) -> dict[str, Any]:
        result = await self.api.api.request(method, path, body)
        return result if isinstance(result, dict) else {}

    async def start(self) -> None:
        whoami = await self._request(Method.GET, f"{V3}/account/whoami")
        self.device_id = str(whoami["device_id"])
        await self.upload_keys(one_time=50)
        await super().start()

    async def upload_keys(self, one_time: int) -> None:
        """Upload the device keys (signed) and ``one_time`` signed one-time keys."""
        device_keys = self._signed(
            {
                "user_id": self.mxid,
                "device_id": self.device_id,
                "algorithms": [OLM, MEGOLM],
                "keys": {
                    f"curve25519:{self.device_id}": self.curve25519,
                    f"ed25519:{self.device_id}": self.ed25519,
                },
            }
        )
        self.account.generate_one_time_keys(one_time)
        otks = {
            f"signed_curve25519:{key_id}": self._signed({"key": key})
            for key_id, key in self.account.one_time_keys["curve25519"].items()
        }
        await self._request(
            Method.POST,
            f"{V3}/keys/upload",
            {"device_keys": device_keys, "one_time_keys": otks},
        )
        self.account.mark_keys_as_published()

    async def query_devices(self, users: list[str]) -> list[Device]:
        """The devices of ``users`` whose device keys are well signed (others are skipped)."""
        data = await self._request(
            Method.POST, f"{V3}/keys/query", {"device_keys": {u: [] for u in users}}
        )
        found = []
        for user_id, devices in data.get("device_keys", {}).items():
            for device_id, keys in devices.items():
                curve = keys.get("keys", {}).get(f"curve25519:{device_id}")
                ed = keys.get("keys", {}).get(f"ed25519:{device_id}")
                if keys.get("user_id") != user_id or keys.get("device_id") != device_id:
                    continue
                if not curve or not ed:
                    continue
                try:
                    verify_signature(keys, user_id, f"ed25519:{device_id}", ed)
                except olm.OlmVerifyError:
                    continue
                found.append(Device(user_id, device_id, curve, ed))
        return found

    async def _olm_session_to(self, device: Device) -> olm.Session:
        sessions = self.olm_sessions.get(device.curve25519)
        if sessions:
            return sessions[0]
        claimed = await self._request(
            Method.POST,
            f"{V3}/keys/claim",
            {"one_time_keys": {device.user_id: {device.device_id: "signed_curve25519"}}},
        )
        keys = claimed.get("one_time_keys", {}).get(device.user_id, {}).get(device.device_id, {})
        if not keys:
            raise RuntimeError(f"{device.user_id} {device.device_id} has no one-time key left")
        otk = next(iter(keys.values()))
        verify_signature(otk, device.user_id, f"ed25519:{device.device_id}", device.ed25519)
        session = olm.OutboundSession(self.account, device.curve25519, otk["key"])
        self.olm_sessions[device.curve25519] = [session]
        return session

    # --- sending ----------------------------------------------------------------------------

    async def create_encrypted_dm(self, other: UserID) -> RoomID:
        """A direct chat as Element creates one: trusted private chat, encrypted from the
        start (``m.room.encryption`` in the initial state)."""
        data = await self._request(
            Method.POST,
            f"{V3}/createRoom",
            {
                "preset": "trusted_private_chat",
                "invite": [other],
                "is_direct": True,
                "initial_state": [
                    {
                        "type": "m.room.encryption",
                        "state_key": "",
                        "content": {"algorithm": MEGOLM},
                    }
                ],
            },
        )
        return RoomID(data["room_id"])

    async def _members(self, room_id: str) -> list[str]:
        data = await self._request(
            Method.GET, f"{V3}/rooms/{urllib.parse.quote(room_id, safe='')}/members"
        )
        return [
            evt["state_key"]
            for evt in data.get("chunk", [])
            if evt.get("content", {}).get("membership") in ("join", "invite")
        ]

    async def share_room_key(self, room_id: str) -> olm.OutboundGroupSession:
        """This device's Megolm session of ``room_id``, shared with every device of the
        room's members (joined or invited) that does not have it yet."""
        session = self.outbound.get(room_id)
        if session is None:
            session = self.outbound[room_id] = olm.OutboundGroupSession()
            self.room_keys[(room_id, session.id)] = RoomKey(
                olm.InboundGroupSession(session.session_key), self.mxid, self.curve25519
            )
        shared = self.shared_with.setdefault(room_id, set())
        devices = await self.query_devices(await self._members(room_id))
        messages: dict[str, dict[str, Any]] = {}
        for device in devices:
            if (
                device.user_id,
                device.device_id,
            ) in shared or device.curve25519 == self.curve25519:
                continue
            room_key = {
                "algorithm": MEGOLM,
                "room_id": room_id,
                "session_id": session.id,
                "session_key": session.session_key,
            }
            content = await self._olm_encrypt(device, "m.room_key", room_key)
            messages.setdefault(device.user_id, {})[device.device_id] = content
            shared.add((device.user_id, device.device_id))
        if messages:
            await self._request(
                Method.PUT,
                f"{V3}/sendToDevice/m.room.encrypted/{secrets.token_hex(8)}",
                {"messages": messages},
            )
        return session

    async def _olm_encrypt(self, device: Device, type_: str, content: Any) -> dict[str, Any]:
        session = await self._olm_session_to(device)
        payload = {
            "type": type_,
            "content": content,
            "sender": self.mxid,
            "sender_device": self.device_id,
            "keys": {"ed25519": self.ed25519},
            "recipient": device.user_id,
            "recipient_keys": {"ed25519": device.ed25519},
        }
        message = session.encrypt(canonical_json(payload))
        return {
            "algorithm": OLM,
            "sender_key": self.curve25519,
            "ciphertext": {
                device.curve25519: {"type": message.message_type, "body": message.ciphertext}
            },
        }

    def _megolm_content(
        self, session: olm.OutboundGroupSession, room_id: str, type_: str, content: Any
    ) -> dict[str, Any]:
        plaintext = canonical_json({"type": type_, "content": content, "room_id": room_id})
        return {
            "algorithm": MEGOLM,
            "sender_key": self.curve25519,
            "ciphertext": session.encrypt(plaintext),
            "session_id": session.id,
            "device_id": self.device_id,
        }

    async def send_encrypted(
        self, room_id: RoomID, content: dict[str, Any], type_: str = "m.room.message"
    ) -> str:
        """Send ``content`` encrypted with the room's Megolm session (shared first)."""
        session = await self.share_room_key(room_id)
        encrypted = self._megolm_content(session, room_id, type_, content)
        return await self.send_content(room_id, encrypted, "m.room.encrypted")

    async def send_encrypted_text(self, room_id: RoomID, text: str) -> str:
        return await self.send_encrypted(room_id, {"msgtype": "m.text", "body": text})

    async def send_undecryptable_text(self, room_id: RoomID, text: str) -> str:
        """A message encrypted with a Megolm session that is never shared with anyone (and
        whose key requests this device never answers)."""
        session = olm.OutboundGroupSession()
        content = {"msgtype": "m.text", "body": text}
        encrypted = self._megolm_content(session, room_id, "m.room.message", content)
        return await self.send_content(room_id, encrypted, "m.room.encrypted")

    # --- receiving --------------------------------------------------------------------------

    def _ingest(self, data: dict[str, Any]) -> None:
        # to-device first: a room key and the events it unlocks may come in one response
        for evt in data.get("to_device", {}).get("events", []):
            try:
                self._on_to_device(evt)
            except Exception as e:  # recorded: a test can assert there were none
                self.to_device_errors.append(f"{evt.get('type')} from {evt.get('sender')}: {e!r}")
        super()._ingest(data)

    def _on_to_device(self, evt: dict[str, Any]) -> None:
        if evt.get("type") == "m.room_key_request":
            self.key_requests.append(evt)
            return
        content = evt.get("content", {})
        if evt.get("type") != "m.room.encrypted" or content.get("algorithm") != OLM:
            return
        sender_key = content["sender_key"]
        payload = self._olm_decrypt(sender_key, content["ciphertext"][self.curve25519])
        if payload.get("recipient") != self.mxid:
            raise ValueError(f"Olm payload for {payload.get('recipient')}, not for me")
        if payload.get("recipient_keys", {}).get("ed25519") != self.ed25519:
            raise ValueError("Olm payload for another device's key")
        if payload.get("sender") != evt.get("sender"):
            raise ValueError("Olm payload's sender is not the event's sender")
        if payload.get("type") == "m.room_key":
            key = payload["content"]
            if key.get("algorithm") != MEGOLM:
                raise ValueError(f"room key of algorithm {key.get('algorithm')}")
            session = olm.InboundGroupSession(key["session_key"])
            if session.id != key["session_id"]:
                raise ValueError("room key's session id does not match its key")
            self.room_keys[(key["room_id"], key["session_id"])] = RoomKey(
                session, evt["sender"], sender_key
            )

    def _olm_decrypt(self, sender_key: str, body: dict[str, Any]) -> dict[str, Any]:
        sessions = self.olm_sessions.setdefault(sender_key, [])
        if body["type"] == 0:
            message: olm.OlmPreKeyMessage | olm.OlmMessage = olm.OlmPreKeyMessage(body["body"])
            for session in sessions:
                if session.matches(message, sender_key):
                    return dict(json.loads(session.decrypt(message)))
            session = olm.InboundSession(self.account, message, sender_key)
            self.account.remove_one_time_keys(session)
            sessions.insert(0, session)
            return dict(json.loads(session.decrypt(message)))
        message = olm.OlmMessage(body["body"])
        for session in sessions:
            try:
                return dict(json.loads(session.decrypt(message)))
            except olm.OlmSessionError:
                continue
        raise ValueError(f"no Olm session with {sender_key} decrypts the message")

    def decrypt(self, evt: dict[str, Any]) -> dict[str, Any] | None:
        """The cleartext form of a Megolm-encrypted room event (``type``, ``content``,
        ``sender``, ``event_id``), or None while its key has not arrived."""
        content = evt.get("content", {})
        if evt.get("type") != "m.room.encrypted" or content.get("algorithm") != MEGOLM:
            return None
        room_id = evt.get("room_id", "")
        key = self.room_keys.get((room_id, content.get("session_id", "")))
        if key is None:
            return None
        if key.sender_key != content.get("sender_key"):
            raise ValueError(f"{evt.get('event_id')} claims a session of another device")
        plaintext, _index = key.session.decrypt(content["ciphertext"])
        payload = json.loads(plaintext)
        if payload.get("room_id") != room_id:
            raise ValueError(f"{evt.get('event_id')} was encrypted for another room")
        return {
            "type": payload["type"],
            "content": payload["content"],
            "sender": evt.get("sender"),
            "event_id": evt.get("event_id"),
            "room_id": room_id,
            "encrypted": True,
            # who shared the key: the event's sender, or (end-to-bridge encryption) the
            # bridge bot, whose device encrypts for the ghosts, which have none
            "key_from": key.sender,
        }

    def decrypted(self, room_id: RoomID, after: int = 0) -> list[dict[str, Any]]:
        """The room's encrypted timeline events from index ``after`` on that can be decrypted
        now, decrypted."""
        found = []
        for evt in self.timeline.get(room_id, [])[after:]:
            clear = self.decrypt(evt)
            if clear is not None:
                found.append(clear)
        return found

    async def wait_for_decrypted(
        self,
        room_id: RoomID,
        body: str | re.Pattern[str] | None = None,
        sender: str | None = None,
        msgtype: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 20.0,
        after: int = 0,
    ) -> dict[str, Any]:
        """An encrypted ``m.room.message`` (decrypted) whose body equals / matches ``body``."""

        def matches(evt: dict[str, Any]) -> bool:
            content = evt["content"]
            text = content.get("body")
            if evt["type"] != "m.room.message" or not isinstance(text, str):
                return False
            if sender is not None and evt["sender"] != sender:
                return False
            if msgtype is not None and content.get("msgtype") != msgtype:
                return False
            if isinstance(body, str) and text != body:
                return False
            if isinstance(body, re.Pattern) and not body.search(text):
                return False
            return predicate is None or predicate(evt)

        def find() -> dict[str, Any] | None:
            return next((e for e in self.decrypted(room_id, after) if matches(e)), None)

        return await self.wait_for(
            find, timeout, f"encrypted message {body!r} from {sender or 'anyone'} in {room_id}"
        )

    @classmethod
    async def login(cls, base_url: str, user_id: UserID, password: str) -> EncryptedMatrixClient:
        """A new device of an existing user (password login), started."""
        probe = MatrixTestClient(base_url, user_id, "")
        try:
            data = await probe.api.api.request(
                Method.POST,
                f"{V3}/login",
                {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": user_id},
                    "password": password,
                },
            )
        finally:
            await probe.api.api.session.close()
        client = cls(base_url, user_id, str(data["access_token"]))
        await client.start()
        return client
