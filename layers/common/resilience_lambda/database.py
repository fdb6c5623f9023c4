"""The process's one Database, connecting with the configured credentials on first use."""

from resilience.store.database import Database
from resilience_lambda.secrets import database_conninfo

database = Database(database_conninfo)
