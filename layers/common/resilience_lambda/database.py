"""The process's Databases: the writer, and where the admin API's reads go, each connecting on first use."""

from collections.abc import Callable

from resilience.settings import DatabaseSettings, ReaderSettings, load
from resilience.store.database import Database
from resilience_lambda import snapstart
from resilience_lambda.observability import logger
from resilience_lambda.secrets import database_conninfo, reader_conninfo


def connect_wait() -> float:
    """How long connecting waits for a resuming database: DATABASE_CONNECT_TIMEOUT_SECONDS."""
    return load(DatabaseSettings).database_connect_timeout_seconds


def read_again(conninfo: Callable[..., str]) -> Callable[[], str]:
    """The connection details with the secret read anew: a refused password means it was rotated."""

    def fresh() -> str:
        logger.warning("the database refused the password; reading its secret again")
        return conninfo(fresh=True)

    return fresh


database = Database(database_conninfo, wait=connect_wait, reauthenticate=read_again(database_conninfo))
# The next invocation after a restore reconnects (Database.connection opens one when there is none).
snapstart.before_snapshot(database.close)

replica = Database(reader_conninfo, wait=connect_wait, reauthenticate=read_again(reader_conninfo))
snapstart.before_snapshot(replica.close)


def reads() -> Database:
    """Where reads that may lag the writer by a moment go: the replica when one is configured, else the writer.

    Alerts, silences and health stay on the writer: an acknowledgement must show in the next list.
    """
    return replica if load(ReaderSettings).configured else database
