"""What a request answers when the database is down, busy or slow: 503 with Retry-After,
never a bare 500.

One classification serves every door: the REST API and FHIR turn it into a problem
(naravard.problems.to_problem), pages into a translated page (naravard.views.server_error,
the site's handler500, which also catches what fails in a middleware before a view runs).
"""

from dataclasses import dataclass

import psycopg.errors
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Fault:
    code: str
    title: Promise
    detail: Promise
    retry_after: int  # seconds, for the Retry-After header
    status: int = 503


# Another transaction holds the rows this request must change (lock_timeout), or the
# two collided (a deadlock or a serialisation failure): trying again soon will work.
BUSY = Fault(
    "busy",
    _("Someone is saving this plan right now"),
    _("Your change was not saved. Wait a moment and try again."),
    retry_after=2,
)
# A statement ran past statement_timeout and was cancelled; nothing was changed.
SLOW = Fault(
    "too-slow",
    _("This took too long"),
    _("Nothing was changed. Try again in a moment."),
    retry_after=5,
)
# No connection to the database, or it broke during the request.
UNAVAILABLE = Fault(
    "unavailable",
    _("Naravard is temporarily unavailable"),
    _("We cannot reach the plans just now. Nothing was changed. Try again in a minute."),
    retry_after=30,
)


def classify(exc: BaseException | None) -> Fault | None:
    """The fault behind `exc`, or None for an error that is not the database's state
    (a defect: that stays a 500)."""
    if not isinstance(exc, DatabaseError):
        return None
    cause = exc.__cause__
    if isinstance(cause, psycopg.errors.LockNotAvailable | psycopg.errors.TransactionRollback):
        return BUSY
    if isinstance(cause, psycopg.errors.QueryCanceled):
        return SLOW
    if isinstance(exc, OperationalError | InterfaceError):
        return UNAVAILABLE
    return None
