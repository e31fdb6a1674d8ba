"""The app's own PostgreSQL role: what the app connects as when migrations run under another login.

The migration login owns the schema and creates every table; the app's role may read and write rows in
them and nothing more: no new tables, no schema changes, no migration bookkeeping. So the app never
needs the owner's password (on RDS the master password, which RDS rotates), and a flaw in the app cannot
change the schema. Applied after every migration, idempotently; default privileges cover the tables that
later migrations create.
"""

from sqlalchemy import make_url, text
from sqlalchemy.engine import Connection

from app.settings import Settings

SCHEMA = "public"
ROW_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
# On RDS, a role granted rds_iam logs in with IAM tokens only
# (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.DBAccounts.html);
# elsewhere the role does not exist and the app's role logs in with its password.
RDS_IAM_ROLE = "rds_iam"


def app_role(settings: Settings) -> str | None:
    """DATABASE_URL's user when migrations log in as someone else; None when both are the same login."""
    if not settings.migration_database_url:
        return None
    app_user = make_url(settings.database_url).username
    return app_user if app_user and app_user != make_url(settings.migration_database_url).username else None


def _role_exists(connection: Connection, role: str) -> bool:
    found = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role})
    return found.scalar() is not None


def grant_app_role(connection: Connection, role: str) -> None:
    """Creates `role` if missing and grants it row access to the app's tables only."""
    quote = connection.dialect.identifier_preparer.quote
    who = quote(role)
    if not _role_exists(connection, role):
        connection.execute(text(f"CREATE ROLE {who} LOGIN"))
    if _role_exists(connection, RDS_IAM_ROLE):
        connection.execute(text(f"GRANT {RDS_IAM_ROLE} TO {who}"))
    database = quote(connection.execute(text("SELECT current_database()")).scalar_one())
    for statement in (
        f"GRANT CONNECT ON DATABASE {database} TO {who}",
        # PostgreSQL before 15 lets every role create tables in public; only the owner should.
        f"REVOKE CREATE ON SCHEMA {SCHEMA} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {who}",
        f"GRANT {ROW_PRIVILEGES} ON ALL TABLES IN SCHEMA {SCHEMA} TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {who}",
        # Tables and sequences the migration login creates later get the same grants.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT {ROW_PRIVILEGES} ON TABLES TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA} GRANT USAGE, SELECT ON SEQUENCES TO {who}",
        # Which migrations ran is the migration login's business.
        f"REVOKE ALL ON TABLE alembic_version FROM {who}",
    ):
        connection.execute(text(statement))
