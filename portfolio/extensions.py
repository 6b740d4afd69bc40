"""Flask extensions, created unbound here and bound to the app in ``create_app``."""

import sqlite3
from typing import TYPE_CHECKING

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, Table, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so that Alembic can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


@event.listens_for(Table, "after_parent_attach")
def _never_reuse_ids(table: Table, parent: object) -> None:
    """Every table of the app is created with SQLite's AUTOINCREMENT: a deleted row's id is never given
    to a new row, so nothing that kept an old id (a link, a URL, a log line) can point at someone
    else's data. PostgreSQL sequences never go back anyway. Tables added later get it too."""
    if parent is Base.metadata:
        table.dialect_kwargs["sqlite_autoincrement"] = True


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection, connection_record) -> None:
    """SQLite enforces foreign keys (ON DELETE CASCADE / RESTRICT / SET NULL) only when asked, on
    each connection: ask on every connection of every engine (the app's, the migrations', tests')."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # One writer at a time: the others wait for it (services.locks) rather than fail at once.
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


db = SQLAlchemy(model_class=Base)

# The base of every model. At run time it is ``db.Model``: Flask-SQLAlchemy's copy of ``Base`` with its
# mixins (bind key, ``__fsa__``); a checker cannot see a class made at run time, so it sees ``Base``,
# whose mapped attributes and metadata ``db.Model`` has.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
