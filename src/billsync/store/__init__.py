"""Durable state: SQLAlchemy models, one repository module per noun, migrations, the vault.

`Database` (database.py) owns the engine; repositories are plain async functions taking an
AsyncSession. Nothing outside this package writes SQL.
"""
