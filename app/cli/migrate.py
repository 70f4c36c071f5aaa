"""`xinzheng migrate`: alembic upgrade head (or `--check`: are models and migrations in step?)."""

from __future__ import annotations

import argparse

from alembic import command
from alembic.config import Config

from app.config import PROJECT_ROOT, Settings


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["configure_logger"] = False
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str | None = None) -> None:
    command.upgrade(alembic_config(database_url), "head")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("migrate", help="bring the database schema up to date")
    p.add_argument("--check", action="store_true", help="fail if the models need a migration that does not exist")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    config = alembic_config(settings.database_url)
    if args.check:
        command.check(config)
        print("migrations are in step with the models")
    else:
        command.upgrade(config, "head")
        print(f"database is at the latest schema: {_redact(settings.database_url)}")
    return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
