"""Login limits: failed logins counted per account and per address, in PostgreSQL.

- **Per account** (the e-mail typed, hashed): a wrong password, e-mail code or
  authenticator code is a failure. The first few are free; after that each further
  try waits, doubling (1, 2, 4 ... minutes) up to a cap. A login resets the count, and
  a day without failures forgets it. Nobody can lock a named person out for good:
  a wait ends on its own, and tries made while waiting are refused unchecked and do
  not make the wait longer.
- **Per address** (IP): more failures, in a fixed window, so that one hospital or
  home network behind one address is not held back by a few mistyped passwords.
- **Only failures count.** An attempt is counted *before* it is checked (one upsert
  per key, ordered by the row lock) and taken back when it succeeds. Counting first
  means that many tries sent at once cannot all slip in before the first failure is
  written.
- **Fail closed.** When the counters cannot be read or written, `LimitStoreDown` is
  raised and the view answers 503 with Retry-After: a login is never let through
  uncounted.

Why not django-axes (STYLE.md 16): axes counts after the check (parallel tries slip
through), locks out for a fixed cool-off (not growing waits with a cap), learns of a
failure only through `authenticate()` and its signals (our authenticator-code and
e-mail-code steps are not one `authenticate()` call each), and with its store down
it either lets logins through or fails with a 500. What we need is one statement per
key on a table we already have; a library would be bigger than that statement.

Requests for an e-mailed code are not logins: they are counted per address and per
e-mail in a fixed window (`count_request`), because each one may send a mail.
"""

import ipaddress
import math

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .models import LoginAttemptCount


class Throttled(Exception):
    """Too many failures: the try is refused unchecked. `retry_after` is in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = max(int(retry_after), 1)


class LimitStoreDown(Exception):
    """The counters could not be read or written, so the try cannot be counted."""


def _limits() -> dict:
    return settings.NARAVARD_LOGIN_RATE_LIMITS


def client_ip(request) -> str:
    # REMOTE_ADDR is the proxy's address behind a load balancer; settings.BEHIND_PROXY
    # says when X-Forwarded-For (set by our own proxy, last hop) can be trusted.
    if getattr(settings, "BEHIND_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def address_of(request) -> str:
    """The address tries are counted under: an IPv4 address, or an IPv6 address's /64.
    One IPv6 connection is given a whole /64 (2^64 addresses), so counting each address
    alone would let a guesser rotate past the per-address limit. An IPv4 address written
    as IPv6 (::ffff:a.b.c.d, a dual-stack socket) is that IPv4 address."""
    raw = client_ip(request)
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return raw
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _email_digest(email: str) -> str:
    # Hashed, so that no e-mail addresses are stored in clear text here.
    return salted_hmac("naravard.login-limit", (email or "").strip().lower()).hexdigest()


def account_key(email: str) -> str:
    return f"login:account:{_email_digest(email)}"


def ip_key(request) -> str:
    return f"login:ip:{address_of(request)}"


# An account: `free` failures cost nothing, then each failure n makes the next try wait
# first * 2^(n - free) seconds, at most `max`. Forgotten `forget` seconds after the
# last failure (then n starts from 1 again). With `gate`, a try while waiting changes
# nothing and returns no row (the WHERE of DO UPDATE); without it (the authenticator
# step that follows a right password, see actors.views) the failure counts all the same.
_COUNT_ACCOUNT_FAILURE = """
INSERT INTO actors_loginattemptcount AS c (key, count, window_ends, blocked_until)
VALUES (
    %(key)s, 1, now() + make_interval(secs => %(forget)s),
    CASE WHEN 1 >= %(free)s THEN now() + make_interval(secs => %(first)s) END
)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN c.window_ends <= now() THEN 1 ELSE c.count + 1 END,
    window_ends = now() + make_interval(secs => %(forget)s),
    blocked_until = CASE
        WHEN c.window_ends <= now() THEN
            CASE WHEN 1 >= %(free)s THEN now() + make_interval(secs => %(first)s) END
        WHEN c.count + 1 >= %(free)s THEN now() + make_interval(secs => LEAST(
            %(first)s * power(2, LEAST(c.count + 1 - %(free)s, 30)), %(max)s))
    END
WHERE NOT %(gate)s OR c.blocked_until IS NULL OR c.blocked_until <= now()
RETURNING count
"""

# An address: `limit` failures in a fixed window, then the rest of the window waits.
_COUNT_IP_FAILURE = """
INSERT INTO actors_loginattemptcount AS c (key, count, window_ends, blocked_until)
VALUES (
    %(key)s, 1, now() + make_interval(secs => %(window)s),
    CASE WHEN 1 >= %(limit)s THEN now() + make_interval(secs => %(window)s) END
)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN c.window_ends <= now() THEN 1 ELSE c.count + 1 END,
    window_ends = CASE WHEN c.window_ends <= now() THEN excluded.window_ends
                  ELSE c.window_ends END,
    blocked_until = CASE
        WHEN c.window_ends <= now() THEN excluded.blocked_until
        WHEN c.count + 1 >= %(limit)s THEN c.window_ends
    END
WHERE c.blocked_until IS NULL OR c.blocked_until <= now()
RETURNING count
"""

# A try that succeeded was counted as a failure first: take it back.
_UNCOUNT_IP = """
UPDATE actors_loginattemptcount SET
    count = GREATEST(count - 1, 0),
    blocked_until = CASE WHEN count - 1 >= %(limit)s THEN blocked_until END
WHERE key = %(key)s AND window_ends > now()
"""

_WAIT_LEFT = """
SELECT GREATEST(ceil(extract(epoch FROM blocked_until - now())), 1)
FROM actors_loginattemptcount WHERE key = %(key)s AND blocked_until > now()
"""

# A request for a code: every request counts, in a fixed window.
_COUNT_REQUEST = """
INSERT INTO actors_loginattemptcount AS c (key, count, window_ends)
VALUES (%(key)s, 1, now() + make_interval(secs => %(window)s))
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN c.window_ends <= now() THEN 1 ELSE c.count + 1 END,
    window_ends = CASE WHEN c.window_ends <= now() THEN excluded.window_ends
                  ELSE c.window_ends END
RETURNING count, GREATEST(ceil(extract(epoch FROM window_ends - now())), 1)
"""


def _wait_left(cursor, key: str) -> int:
    cursor.execute(_WAIT_LEFT, {"key": key})
    row = cursor.fetchone()
    return int(row[0]) if row else 1


def count_failure(request, email: str, *, gate_account: bool = True) -> None:
    """Count one try at logging in to `email`'s account as a failure, before checking it.

    Raises Throttled (nothing counted) while the address or the account must wait, and
    LimitStoreDown when the counters cannot be written. Call `succeeded` when the try
    turns out right."""
    limits = _limits()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            key = ip_key(request)
            cursor.execute(
                _COUNT_IP_FAILURE,
                {"key": key, "limit": limits["ip_failures"], "window": limits["ip_window_seconds"]},
            )
            if cursor.fetchone() is None:
                raise Throttled(_wait_left(cursor, key))
            key = account_key(email)
            cursor.execute(
                _COUNT_ACCOUNT_FAILURE,
                {
                    "key": key,
                    "gate": gate_account,
                    "free": limits["account_free_failures"],
                    "first": limits["account_first_delay_seconds"],
                    "max": limits["account_max_delay_seconds"],
                    "forget": limits["account_forget_seconds"],
                },
            )
            if cursor.fetchone() is None:
                # Raised inside the transaction: the address's count is taken back too.
                raise Throttled(_wait_left(cursor, key))
    except DatabaseError as exc:
        raise LimitStoreDown from exc


def not_a_failure_from_this_address(request) -> None:
    """The try was right (a password before its second factor): take back the address's
    count. The account's count stays until the whole login succeeds."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(_UNCOUNT_IP, {"key": ip_key(request), "limit": _limits()["ip_failures"]})
    except DatabaseError as exc:
        raise LimitStoreDown from exc


def succeeded(request, email: str) -> None:
    """The login succeeded: the account starts from nothing again, and this try is not
    counted against the address."""
    try:
        with transaction.atomic():
            not_a_failure_from_this_address(request)
            LoginAttemptCount.objects.filter(key=account_key(email)).delete()
    except DatabaseError as exc:
        raise LimitStoreDown from exc


def count_request(request, kind: str, email: str) -> None:
    """Count a request for a code, per address and per e-mail; raise Throttled when
    either has asked too often in the window (LimitStoreDown when it cannot count)."""
    limits = _limits()
    params = {"window": limits["window_seconds"]}
    wait = 0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for key, limit in (
                (f"{kind}:ip:{address_of(request)}", limits["per_ip"]),
                (f"{kind}:email:{_email_digest(email)}", limits["per_email"]),
            ):
                cursor.execute(_COUNT_REQUEST, {**params, "key": key})
                count, left = cursor.fetchone()
                if count > limit:
                    wait = max(wait, int(left))
    except DatabaseError as exc:
        raise LimitStoreDown from exc
    if wait:
        raise Throttled(wait)


def forget_ended_windows() -> int:
    """Delete the counts whose time has run out and that hold nobody back (a beat task)."""
    now = timezone.now()
    deleted, _kinds = (
        LoginAttemptCount.objects.filter(window_ends__lt=now)
        .exclude(blocked_until__gt=now)
        .delete()
    )
    return deleted


def minutes(seconds: int) -> int:
    return max(math.ceil(seconds / 60), 1)
