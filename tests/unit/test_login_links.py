"""One-time login links: single use, expiry, one live link per user, bounded store."""

from __future__ import annotations

import pytest

from bridge.web.login_links import MAX_ATTEMPTS, LinkState, LoginLinks, looks_like_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_link_is_bound_to_its_user_and_spent_by_a_successful_login(clock: Clock) -> None:
    links = LoginLinks(600, clock=clock)
    token = links.issue("@alice:hs.test", "alice@example.com")
    assert looks_like_token(token)
    state, link = links.check(token)
    assert state is LinkState.VALID and link is not None
    assert (link.mxid, link.passport) == ("@alice:hs.test", "alice@example.com")
    # Opening the page (check) any number of times spends nothing.
    assert links.check(token)[0] is LinkState.VALID
    assert links.begin(token)[0] is LinkState.VALID
    # While the login runs, a second attempt is refused.
    assert links.begin(token)[0] is LinkState.BUSY
    links.finish(token, success=True)
    assert links.check(token) == (LinkState.USED, None)
    assert links.begin(token) == (LinkState.USED, None)


def test_failed_logins_may_retry_until_the_attempt_limit(clock: Clock) -> None:
    links = LoginLinks(600, clock=clock)
    token = links.issue("@alice:hs.test")
    for _ in range(MAX_ATTEMPTS - 1):
        assert links.begin(token)[0] is LinkState.VALID
        links.finish(token, success=False)
        assert links.check(token)[0] is LinkState.VALID
    assert links.begin(token)[0] is LinkState.VALID
    links.finish(token, success=False)
    assert links.check(token)[0] is LinkState.USED


def test_links_expire(clock: Clock) -> None:
    links = LoginLinks(600, clock=clock)
    token = links.issue("@alice:hs.test")
    clock.now += 599.9
    assert links.check(token)[0] is LinkState.VALID
    clock.now += 0.1
    assert links.check(token) == (LinkState.EXPIRED, None)
    assert links.begin(token) == (LinkState.EXPIRED, None)


def test_a_new_link_replaces_the_users_previous_one(clock: Clock) -> None:
    links = LoginLinks(600, clock=clock)
    first = links.issue("@alice:hs.test")
    other = links.issue("@bob:hs.test")
    second = links.issue("@alice:hs.test")
    assert first != second
    assert links.check(first) == (LinkState.UNKNOWN, None)
    assert links.check(second)[0] is LinkState.VALID
    assert links.check(other)[0] is LinkState.VALID
    links.revoke_user("@alice:hs.test")
    assert links.check(second)[0] is LinkState.UNKNOWN


@pytest.mark.parametrize(
    "token",
    ["", "x", "a" * 42, "a" * 44, "a" * 42 + "!", "../../etc/passwd", "a" * 10_000, "é" * 43],
)
def test_tokens_of_the_wrong_shape_are_unknown(clock: Clock, token: str) -> None:
    links = LoginLinks(600, clock=clock)
    links.issue("@alice:hs.test")
    assert links.check(token) == (LinkState.UNKNOWN, None)
    links.finish(token, success=True)  # no effect, no error


def test_the_store_is_bounded_and_drops_expired_links_first(clock: Clock) -> None:
    links = LoginLinks(600, clock=clock, max_links=100)
    tokens = [links.issue(f"@user{i}:hs.test") for i in range(100)]
    assert len(links) == 100
    newest = links.issue("@late:hs.test")
    assert len(links) == 100
    assert links.check(tokens[0])[0] is LinkState.UNKNOWN  # the oldest went
    assert links.check(tokens[1])[0] is LinkState.VALID
    assert links.check(newest)[0] is LinkState.VALID
    clock.now += 601
    links.issue("@next:hs.test")
    assert len(links) == 1


def test_a_spent_link_stays_known_as_used_until_it_would_expire(clock: Clock) -> None:
    links = LoginLinks(600, clock=clock)
    token = links.issue("@alice:hs.test")
    links.begin(token)
    links.finish(token, success=True)
    # The user's next link is a fresh one; the spent one still answers "used".
    fresh = links.issue("@alice:hs.test")
    assert links.check(token)[0] is LinkState.USED
    assert links.check(fresh)[0] is LinkState.VALID
    clock.now += 601
    links.issue("@bob:hs.test")
    assert links.check(token)[0] is LinkState.UNKNOWN


def test_tokens_are_random_and_not_kept_in_clear(clock: Clock) -> None:
    links = LoginLinks(600, clock=clock)
    tokens = {links.issue(f"@u{i}:hs.test") for i in range(200)}
    assert len(tokens) == 200
    stored = repr(links.__dict__)
    assert not any(token in stored for token in tokens)


def test_a_lifetime_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LoginLinks(0)
