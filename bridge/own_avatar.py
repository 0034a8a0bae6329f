"""The user's Matrix avatar as their MSN display picture: a 96x96 PNG that contacts fetch over
P2P, announced after every login (``bridge.p2p.own_avatar``).

The avatar is downloaded with the appservice's credentials (at most :data:`MAX_DOWNLOAD`
bytes), checked to be a picture of at most :data:`MAX_PIXELS` pixels before it is decoded, and
converted off the event loop; the result is kept for the avatar's ``mxc://`` URI, so a reconnect
does not convert it again, and stored (``own_picture``), so that a login after a restart puts it
in its first ``CHG`` without asking the homeserver: a restart storm does not wait behind the
homeserver's backlog. Only a user whose avatar was never read waits for it (at most
:data:`LOGIN_WAIT` seconds), before the login takes its turn at the gate.

The avatar is read again only when the homeserver says it changed: a new avatar is a member
event in every room the user shares with the bridge (the management room at least), and the
homeserver keeps the events of a time the bridge was down for it. A change is read at once and
announced with a ``CHG`` of its own; one that arrives while the user is not connected is read
after the next login, and the stored picture is dropped when it arrives (:meth:`changed`), so
that a restart before it was read does not announce the old picture. A login with nothing
changed asks the homeserver nothing.
"""

from __future__ import annotations

from typing import Final
from io import BytesIO
import asyncio

from mautrix.appservice import IntentAPI
from mautrix.types import ContentURI, UserID
from mautrix.util.logging import TraceLogger
from PIL import Image, ImageOps, UnidentifiedImageError

from bridge import lazy_log
from bridge.db.own_picture import OwnPicture
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import MSNPException

__all__ = ["MAX_DOWNLOAD", "MAX_PIXELS", "SIDE", "OwnAvatar", "to_display_picture"]

#: MSN clients show display pictures at 96x96.
SIDE: Final = 96
#: Largest avatar downloaded, in bytes.
MAX_DOWNLOAD: Final = 16 * 1024 * 1024
#: Largest avatar decoded, in pixels (a small file may claim huge dimensions).
MAX_PIXELS: Final = 40_000_000
#: The longest a login waits for the picture of its first CHG when none is stored, in seconds.
LOGIN_WAIT: Final = 2.0


def to_display_picture(data: bytes) -> bytes:
    """``data`` (any picture Pillow reads) cropped to a square and scaled to a 96x96 PNG.

    Raises :class:`ValueError` for what is not a picture or is too large.
    """
    try:
        with Image.open(BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ValueError(f"the avatar has {image.width}x{image.height} pixels")
            image.seek(0)  # the first frame of an animation
            square = ImageOps.fit(image.convert("RGBA"), (SIDE, SIDE), Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"the avatar is not a picture Pillow can read: {e}") from e
    out = BytesIO()
    square.save(out, "PNG", optimize=True)
    return out.getvalue()


class OwnAvatar:
    """One user's display picture, made from their Matrix avatar."""

    def __init__(self, mxid: UserID, intent: IntentAPI, log: TraceLogger) -> None:
        self.mxid = mxid
        self.intent = intent
        self.log = lazy_log.child(log, "own_avatar")
        self._made_from: ContentURI | None = None
        self._picture: bytes | None = None
        #: whether ``_made_from``/``_picture`` say what the avatar was (read or stored)
        self._known = False
        self._loaded = False  # the stored row was read
        #: the client and avatar last announced (an avatar change arrives once per room)
        self._announced: tuple[MSNClient, ContentURI | None] | None = None
        #: the homeserver told of a change that no read has followed yet
        self._unread_change = False
        #: whether the database holds the picture kept here (see :meth:`changed`)
        self._stored = False
        self._lock = asyncio.Lock()

    async def before_login(self, client: MSNClient) -> None:
        """Give a new client the picture for its first ``CHG``: the one known (from this run
        or stored by an earlier one) at once; else the avatar read now, within
        :data:`LOGIN_WAIT` seconds (later, :meth:`after_login` announces it)."""
        try:
            await self._load()
            if self._known:
                await client.p2p.set_display_picture(self._picture)
                self._announced = (client, self._made_from)
                return
            async with asyncio.timeout(LOGIN_WAIT):
                await self.apply(client)
        except TimeoutError:
            self.log.info("The Matrix avatar was not ready for the login; it follows later")
        except Exception:
            self.log.exception("Failed to prepare the display picture")

    async def after_login(self, client: MSNClient) -> None:
        """After ``client`` logged in: read the avatar and announce it, unless the first
        ``CHG`` carried a picture and the homeserver told of no change since it was made."""
        async with self._lock:
            announced = self._announced
            if announced is not None and announced[0] is client and not self._unread_change:
                return
            await self._apply(client)

    async def changed(self) -> None:
        """The homeserver told of a new avatar (a member event): the next read follows it
        (the caller starts one when the user is connected, else :meth:`after_login` reads).
        The stored picture is dropped until then (awaited by the event's handler, which a
        stop waits for): a restart before the read does not announce the old one."""
        self._unread_change = True
        if self._loaded and not self._stored:  # (before the load: whatever is stored)
            return
        self._stored = False
        try:
            await OwnPicture(mxid=self.mxid).delete()
        except Exception as e:
            self.log.warning("Could not drop the stored display picture: %s", e)

    async def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            row = await OwnPicture.get(self.mxid)
        except Exception as e:
            self.log.warning("Could not read the stored display picture: %s", e)
            return
        self._keep_stored(row)

    def take_stored(self, row: OwnPicture | None) -> bool:
        """The stored row (None: none), read together with other users' rows when the bridge
        starts them (:mod:`bridge.start_rows`): the login reads nothing. Not taken (False)
        once it was read here; what is known since (stored by this object) stays."""
        if self._loaded:
            return False
        self._loaded = True
        self._keep_stored(row)
        return True

    def _keep_stored(self, row: OwnPicture | None) -> None:
        if row is not None and not self._known:
            self._made_from, self._picture = ContentURI(row.mxc) if row.mxc else None, row.picture
            self._known = self._stored = True

    async def _remember(self, mxc: ContentURI | None, picture: bytes | None) -> None:
        changed = not self._known or (mxc, picture) != (self._made_from, self._picture)
        self._made_from, self._picture, self._known = mxc, picture, True
        if not changed and self._stored:
            return
        try:
            await OwnPicture(mxid=self.mxid, mxc=mxc, picture=picture).store()
        except Exception as e:
            self.log.warning("Could not store the display picture: %s", e)
            self._stored = False
        else:
            self._stored = True

    async def apply(self, client: MSNClient) -> None:
        """Announce the user's current Matrix avatar on ``client`` (none: no picture)."""
        async with self._lock:
            await self._apply(client)

    async def _apply(self, client: MSNClient) -> None:
        # A change that arrives during the read sets the mark again; a failed read keeps it.
        unread, self._unread_change = self._unread_change, False
        mxc: ContentURI | None = None
        read = False
        try:
            mxc = await self.intent.get_avatar_url(self.mxid) or None
            read = True
        except Exception as e:
            self.log.warning("Could not read the avatar of %s: %s", self.mxid, e)
            return
        finally:
            if not read and unread:
                self._unread_change = True
        if self._announced == (client, mxc):
            if not self._stored and self._known and self._made_from == mxc:
                await self._remember(mxc, self._picture)  # (dropped by a change that was none)
            return
        if mxc is None:
            picture = None
        elif mxc == self._made_from and self._known:
            picture = self._picture
        else:
            try:
                data = await self._download(mxc)
                picture = await asyncio.to_thread(to_display_picture, data)
            except ValueError as e:
                self.log.info("Not using the Matrix avatar as display picture: %s", e)
                return
            except Exception as e:
                self.log.warning("Could not download the Matrix avatar %s: %s", mxc, e)
                self._unread_change = True  # (the next login tries again)
                return
        await self._remember(mxc, picture)
        try:
            await client.p2p.set_display_picture(picture)
        except MSNPException as e:
            self.log.warning("Could not announce the display picture: %s", e)
            return
        self._announced = (client, mxc)

    async def _download(self, mxc: ContentURI) -> bytes:
        api = self.intent.api
        url = api.get_download_url(mxc, authenticated=True)
        params = {"allow_redirect": "true"}
        if api.as_user_id:
            params["user_id"] = api.as_user_id
        headers = {"Authorization": f"Bearer {api.token}"}
        async with api.session.get(url, params=params, headers=headers) as response:
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
            if (response.content_length or 0) > MAX_DOWNLOAD:
                raise ValueError(f"the avatar is larger than {MAX_DOWNLOAD} bytes")
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > MAX_DOWNLOAD:
                    raise ValueError(f"the avatar is larger than {MAX_DOWNLOAD} bytes")
            return bytes(data)
