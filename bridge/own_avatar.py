"""The user's Matrix avatar as their MSN display picture: a 96x96 PNG that contacts fetch over
P2P, announced after every login (``bridge.p2p.own_avatar``).

The avatar is downloaded with the appservice's credentials (at most :data:`MAX_DOWNLOAD`
bytes), checked to be a picture of at most :data:`MAX_PIXELS` pixels before it is decoded, and
converted off the event loop; the result is kept for the avatar's ``mxc://`` URI, so a reconnect
does not convert it again, and stored (``own_picture``), so that a login after a restart puts it
in its first ``CHG`` without asking the homeserver: a restart storm does not wait behind the
homeserver's backlog. After the login the avatar is read again, and a change is announced with
a ``CHG`` of its own. Only a user whose avatar was never read waits for it (at most
:data:`LOGIN_WAIT` seconds), before the login takes its turn at the gate.
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
        #: the client whose picture was read from the homeserver just before its login
        self._fresh_for: MSNClient | None = None
        self._lock = asyncio.Lock()

    async def before_login(self, client: MSNClient) -> None:
        """Give a new client the picture for its first ``CHG``: the one known (from this run
        or stored by an earlier one) at once; else the avatar read now, within
        :data:`LOGIN_WAIT` seconds (later, :meth:`after_login` announces it)."""
        try:
            await self._load()
            if self._known:
                await client.p2p.set_display_picture(self._picture)
                self._announced, self._fresh_for = (client, self._made_from), None
                return
            async with asyncio.timeout(LOGIN_WAIT):
                await self.apply(client)
            self._fresh_for = client
        except TimeoutError:
            self.log.info("The Matrix avatar was not ready for the login; it follows later")
        except Exception:
            self.log.exception("Failed to prepare the display picture")

    async def after_login(self, client: MSNClient) -> None:
        """After ``client`` logged in: read the avatar again and announce it if it is not
        what the first ``CHG`` carried (unless :meth:`before_login` read it a moment ago; a
        change since arrives as an event)."""
        async with self._lock:
            announced = self._announced
            if self._fresh_for is client and announced is not None and announced[0] is client:
                return
            await self._apply(client)

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
            self._known = True

    async def _remember(self, mxc: ContentURI | None, picture: bytes | None) -> None:
        changed = not self._known or (mxc, picture) != (self._made_from, self._picture)
        self._made_from, self._picture, self._known = mxc, picture, True
        if not changed:
            return
        try:
            await OwnPicture(mxid=self.mxid, mxc=mxc, picture=picture).store()
        except Exception as e:
            self.log.warning("Could not store the display picture: %s", e)

    async def apply(self, client: MSNClient) -> None:
        """Announce the user's current Matrix avatar on ``client`` (none: no picture)."""
        async with self._lock:
            await self._apply(client)

    async def _apply(self, client: MSNClient) -> None:
        try:
            mxc = await self.intent.get_avatar_url(self.mxid)
        except Exception as e:
            self.log.warning("Could not read the avatar of %s: %s", self.mxid, e)
            return
        if self._announced == (client, mxc or None):
            return
        if not mxc:
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
                return
        await self._remember(mxc or None, picture)
        try:
            await client.p2p.set_display_picture(picture)
        except MSNPException as e:
            self.log.warning("Could not announce the display picture: %s", e)
            return
        self._announced = (client, mxc or None)

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
