"""The database layer: base and types, engine, request sessions, single-statement readers, error
classification and the SQL building blocks both backends share.

Import from here; the modules behind it each hold one job (`base`, `engine`, `session`,
`reader`, `errors`, `functions`).
"""

from energy_api.db.base import NAMING_CONVENTION, Base, UtcDateTime
from energy_api.db.engine import asyncpg_dsn, create_engine
from energy_api.db.errors import (
    SQLITE_FOREIGN_KEY,
    flush,
    is_retryable,
    is_unavailable,
    is_unstorable_text,
    mapped_constraints,
    violated_constraint,
)
from energy_api.db.reader import (
    AnySelect,
    AsyncpgReader,
    PoolReader,
    Reader,
    ReaderDep,
    ReplicaReaderDep,
    SessionReader,
    StreamReader,
    StreamReaderDep,
    get_reader,
    get_replica_reader,
    open_reader,
)
from energy_api.db.session import (
    READ_ONLY_METHODS,
    KeepsWork,
    ReplicaSessionDep,
    SessionDep,
    create_read_sessionmaker,
    create_sessionmaker,
    discard,
    get_replica_session,
    get_session,
    longer_statements,
    request_transaction,
)

__all__ = [
    "NAMING_CONVENTION",
    "READ_ONLY_METHODS",
    "SQLITE_FOREIGN_KEY",
    "AnySelect",
    "AsyncpgReader",
    "Base",
    "KeepsWork",
    "PoolReader",
    "Reader",
    "ReaderDep",
    "ReplicaReaderDep",
    "ReplicaSessionDep",
    "SessionDep",
    "SessionReader",
    "StreamReader",
    "StreamReaderDep",
    "UtcDateTime",
    "asyncpg_dsn",
    "create_engine",
    "create_read_sessionmaker",
    "create_sessionmaker",
    "discard",
    "flush",
    "get_reader",
    "get_replica_reader",
    "get_replica_session",
    "get_session",
    "is_retryable",
    "is_unavailable",
    "is_unstorable_text",
    "longer_statements",
    "mapped_constraints",
    "open_reader",
    "request_transaction",
    "violated_constraint",
]
