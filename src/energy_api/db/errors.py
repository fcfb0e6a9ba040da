"""What a database error means: a violated constraint by name, "unavailable now", "retry the
transaction", or text the database cannot store. Named matchers, so every layer asks the same
question the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import asyncpg
from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.db.base import Base

# SQLSTATEs that mean "the database is not available now", not "the request is wrong":
# class 08 (connection exception), admin/crash shutdown, starting up, too many connections,
# statement_timeout (57014) and lock_timeout (55P03).
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "57014", "55P03"})
# SQLSTATEs after which the same transaction, run again, may well succeed: a deadlock victim
# and a serialization failure.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
# SQLSTATEs for text PostgreSQL cannot store (NUL, characters outside the encoding).
UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})
# SQLite's "another connection holds the lock and the busy timeout ran out".
SQLITE_BUSY_NAMES = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})
# What SQLite reports for a foreign key: no constraint name, only this.
SQLITE_FOREIGN_KEY = "foreign_key"

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>.+)$")


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError violated, on PostgreSQL and SQLite.

    asyncpg reports the name itself. SQLite reports the columns of a unique constraint, which are
    matched against the metadata's named constraints, and only "FOREIGN KEY constraint failed"
    (returned as `SQLITE_FOREIGN_KEY`).
    """
    cause = getattr(exc.orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None)
    if isinstance(name, str):
        return name
    message = str(exc.orig)
    if match := _SQLITE_UNIQUE.search(message):
        columns = [c.strip() for c in match.group("cols").split(",")]
        table = columns[0].split(".")[0]
        wanted = {c.split(".")[1] for c in columns}
        for constraint in Base.metadata.tables[table].constraints:
            if (
                isinstance(constraint, UniqueConstraint)
                and {c.name for c in constraint.columns} == wanted
                and constraint.name
            ):
                return str(constraint.name)
    if "FOREIGN KEY constraint failed" in message:
        return SQLITE_FOREIGN_KEY
    return None


ConstraintErrors = Mapping[str, Callable[[], Exception]]


@contextmanager
def mapped_constraints(errors: ConstraintErrors) -> Iterator[None]:
    """Turn an IntegrityError on one of the named constraints into the domain error given for
    it; any other IntegrityError goes on as it is (a bug, not bad input)."""
    try:
        yield
    except IntegrityError as exc:
        make = errors.get(violated_constraint(exc) or "")
        if make is None:
            raise
        raise make() from exc


async def flush(session: AsyncSession, errors: ConstraintErrors) -> None:
    """Flush the session, mapping the named constraints' violations (`mapped_constraints`).

    Inserting and letting the constraint decide is the race-free way to enforce uniqueness;
    checking first and inserting second is not.
    """
    with mapped_constraints(errors):
        await session.flush()


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, bare or wrapped by SQLAlchemy (`orig` and its cause)."""
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None), exc.__cause__):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def _sqlite_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None)):
        if getattr(candidate, "sqlite_errorname", None) in SQLITE_BUSY_NAMES:
            return True
    return isinstance(orig, Exception) and "database is locked" in str(orig)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached or used now (503), at any layer.

    Covers the pool (checkout timeout), SQLAlchemy (invalidated connections, InterfaceError),
    asyncpg (connection errors, shutdown, statement and lock timeouts), SQLite (the write lock
    not granted within the busy timeout) and the OS (refused, reset, timed out).
    """
    if isinstance(exc, PoolTimeoutError | InterfaceError | OSError):  # OSError: refused, timeout
        return True
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc.orig, OSError) or _sqlite_busy(exc)
    ):
        return True
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return True
    sqlstate = _sqlstate(exc)
    return sqlstate is not None and (sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES)


def is_retryable(exc: BaseException) -> bool:
    """Whether the transaction that raised `exc` should be run again from the start: it was
    chosen as a deadlock victim, or failed to serialize."""
    return _sqlstate(exc) in RETRYABLE_SQLSTATES


def is_unstorable_text(exc: BaseException) -> bool:
    """Whether the database refused a text value it cannot store (e.g. NUL in PostgreSQL)."""
    return _sqlstate(exc) in UNSTORABLE_TEXT_SQLSTATES
