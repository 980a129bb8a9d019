"""The database: tables, engine and session helper, and Alembic migrations."""
