"""The process's one Database, connecting with the configured credentials on first use."""

from resilience.store.database import Database
from resilience_lambda import snapstart
from resilience_lambda.secrets import database_conninfo

database = Database(database_conninfo)
# The next invocation after a restore reconnects (Database.connection opens one when there is none).
snapstart.before_snapshot(database.close)
