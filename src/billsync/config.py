"""Settings, read from BILLSYNC_* environment variables (and .env) by the composition root.

No instance exists at import time: `billsync.app` builds one, tests build their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./billsync.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BILLSYNC_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    #: sqlite+aiosqlite:///path (embedded) or postgresql+psycopg://... (scale-out)
    database_url: str = DEFAULT_DATABASE_URL
    #: Fernet keys, comma-separated, newest first. Unset: a key file beside the database.
    secret_keys: SecretStr | None = None
    #: Where the generated key lives when secret_keys is unset (default: beside the database).
    key_file: Path | None = None

    #: Base URL the providers reach us at; webhook URLs shown to users are built from it.
    public_url: str = "http://127.0.0.1:8000"
    #: A scrape-only bearer token for /metrics (admin tokens work there too).
    metrics_token: SecretStr | None = None
    #: Seconds a /metrics database snapshot is reused (scrapes in between cost no query).
    metrics_cache_seconds: float = Field(default=10.0, ge=0)
    #: Refused admin tokens (API bearer, UI login) one client address may present per
    #: 5 minutes before it must wait (app/throttle.py).
    auth_failures: int = Field(default=5, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    log_json: bool = False

    #: Seconds between polls of each polling trigger.
    poll_interval: float = Field(default=30.0, gt=0)
    #: Runs executed concurrently by the embedded worker (and by each worker process). Runs
    #: wait on the providers most of the time: at 100 ms API latency, 4 slots synced 6
    #: accounts+invoices/s and 32 synced 30 (docs/benchmarks.md). Per-entity order holds at
    #: any number, and each connection's rate limit caps the requests.
    worker_slots: int = Field(default=32, ge=1)
    #: Extra processes `billsync serve` starts beside itself that only execute runs
    #: (`billsync worker`), so a multi-core machine runs flows on every core. They share
    #: the database (SQLite or PostgreSQL) and split each connection's rate limit.
    worker_processes: int = Field(default=0, ge=0)
    #: SQLite only: billsync processes calling the providers with the same connections:
    #: each paces at 1/N of a connection's rate limit, so together they stay within it.
    #: `serve` sets it for the workers it starts. On PostgreSQL it is not used: every
    #: process takes its tokens from the connection's one bucket in the database.
    rate_limit_processes: int = Field(default=1, ge=1)
    lease_seconds: float = Field(default=60.0, gt=0)
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    reconcile_seconds: float = Field(default=30.0, gt=0)
    #: Fallback poll of the run table when no wake-up arrives.
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    #: How runs reach executors: `embedded` (the run table is the queue; SQLite, or one
    #: machine) or `procrastinate` (PostgreSQL jobs; `billsync worker` on any number of
    #: machines). Unset: procrastinate on PostgreSQL, embedded on SQLite.
    dispatcher: Literal["embedded", "procrastinate"] | None = None
    #: procrastinate workers: poll for due jobs (a retry's time) at least this often;
    #: new jobs arrive at once through PostgreSQL's NOTIFY.
    job_poll_seconds: float = Field(default=0.5, gt=0)
    #: procrastinate workers: heartbeat interval, and the silence after which a worker is
    #: taken for dead and its runs are resumed by another (within about the sum of both
    #: plus one reaper pass of `job_heartbeat_seconds`).
    job_heartbeat_seconds: float = Field(default=2.0, gt=0)
    stalled_worker_seconds: float = Field(default=8.0, gt=0)  #: >= 2 x the heartbeat
    #: Grace period for in-flight runs on shutdown before their leases are released.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    #: Attempts of one step before a run failing transiently (or on our bug) is dead.
    retry_max_attempts: int = Field(default=10, ge=1)
    #: Exponential backoff with full jitter: up to base * 2**(attempt-1), capped.
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_cap_seconds: float = Field(default=300.0, gt=0)

    #: Seconds between reconciliations of each connection pair that flows bind, run by
    #: the serving process (a day by default; 0 switches the schedule off).
    reconcile_every: float = Field(default=86400.0, ge=0)

    #: HTTP timeout for calls to Togai and Razorpay, in seconds.
    http_timeout: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _stalled_after_missed_heartbeats(self) -> Settings:
        if self.stalled_worker_seconds < 2 * self.job_heartbeat_seconds:
            raise ValueError(
                "BILLSYNC_STALLED_WORKER_SECONDS must be at least twice "
                "BILLSYNC_JOB_HEARTBEAT_SECONDS (one late heartbeat must not make a live "
                "worker look dead)"
            )
        return self

    def secret_key_list(self) -> list[str]:
        if self.secret_keys is None:
            return []
        return [k.strip() for k in self.secret_keys.get_secret_value().split(",") if k.strip()]
