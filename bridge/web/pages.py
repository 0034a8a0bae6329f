"""The HTML of the web login page: a plain form, its answers, and the headers that lock it down.

Every value shown is passed through :func:`html.escape` here, in one place; the callers hand in
plain text. The page loads nothing from anywhere (one inline style block, allowed by its hash in
the Content-Security-Policy), runs no script, and posts the form to its own address.
"""

from __future__ import annotations

from html import escape
import base64
import hashlib

__all__ = ["SECURITY_HEADERS", "form_page", "message_page", "success_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; background: #eef3f8; color: #1c2a39; margin: 0; }
main { max-width: 26rem; margin: 4rem auto; background: #fff; padding: 1.5rem 2rem;
       border-radius: 8px; box-shadow: 0 1px 4px rgba(0, 0, 0, .15); }
h1 { font-size: 1.3rem; margin-top: 0; }
label { display: block; margin: .9rem 0 .3rem; font-weight: 600; }
input[type=email], input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem;
       font-size: 1rem; border: 1px solid #8a9bb0; border-radius: 4px; }
button { margin-top: 1.2rem; padding: .55rem 1.4rem; font-size: 1rem; border: 0;
         border-radius: 4px; background: #2b6cb0; color: #fff; cursor: pointer; }
.error { background: #fdecea; border: 1px solid #e0a0a0; padding: .6rem; border-radius: 4px; }
.ok { background: #e8f5e9; border: 1px solid #9ccc9c; padding: .6rem; border-radius: 4px; }
.small { font-size: .85rem; color: #4a5a6a; }
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

#: Sent with every page of the login site.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def form_page(
    bridge_name: str, mxid: str, email: str, error: str | None = None, *, max_email: int = 129
) -> str:
    """The login form for the Matrix user ``mxid``, ``email`` pre-filled."""
    notice = f'<p class="error" id="error">{escape(error)}</p>\n' if error else ""
    return _page(
        f"Log in to MSN - {bridge_name}",
        f"<h1>Log in to MSN</h1>\n{notice}"
        f'<p>For the Matrix account <strong id="mxid">{escape(mxid)}</strong> on '
        f"{escape(bridge_name)}.</p>\n"
        '<form method="post" autocomplete="on">\n'
        '<label for="email">E-mail address</label>\n'
        f'<input type="email" id="email" name="email" value="{escape(email)}" required '
        f'maxlength="{max_email}" autocomplete="username">\n'
        '<label for="password">Password</label>\n'
        '<input type="password" id="password" name="password" required maxlength="1024" '
        'autocomplete="current-password">\n'
        '<button type="submit" id="submit">Log in</button>\n'
        "</form>\n"
        '<p class="small">Your password goes from this page to the bridge only; it is never '
        "sent through Matrix. This link works once and expires soon.</p>",
    )


def success_page(bridge_name: str, email: str, friendly_name: str, contacts: int) -> str:
    plural = "" if contacts == 1 else "s"
    return _page(
        f"Logged in - {bridge_name}",
        "<h1>Logged in to MSN</h1>\n"
        f'<p class="ok" id="success">Logged in as <strong>{escape(friendly_name)}</strong> '
        f"({escape(email)}); {contacts} contact{plural}.</p>\n"
        "<p>You can close this page and go back to your Matrix client.</p>",
    )


def message_page(bridge_name: str, title: str, text: str) -> str:
    """A page with one message (link expired, already used, ...)."""
    return _page(
        f"{title} - {bridge_name}",
        f'<h1>{escape(title)}</h1>\n<p class="error" id="error">{escape(text)}</p>',
    )
