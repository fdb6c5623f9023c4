"""The process's Databases: the writer, and where the admin API's reads go, each connecting on first use."""

from resilience.settings import ReaderSettings, load
from resilience.store.database import Database
from resilience_lambda import snapstart
from resilience_lambda.secrets import database_conninfo, reader_conninfo

database = Database(database_conninfo)
# The next invocation after a restore reconnects (Database.connection opens one when there is none).
snapstart.before_snapshot(database.close)

replica = Database(reader_conninfo)
snapstart.before_snapshot(replica.close)


def reads() -> Database:
    """Where reads that may lag the writer by a moment go: the replica when one is configured, else the writer.

    Alerts, silences and health stay on the writer: an acknowledgement must show in the next list.
    """
    return replica if load(ReaderSettings).configured else database
