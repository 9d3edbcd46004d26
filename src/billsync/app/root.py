"""The composition root: `build(settings)` wires store, vault, registry, engine and clients.

Nothing else constructs these objects from settings, and only the faces (`billsync serve`,
`billsync demo`) read the environment (by building `Settings()`) before calling `build`.
`App.start()` applies migrations and starts the worker and the poller; `App.stop()` stops
them (in-flight runs finish within the grace period, or their leases are released) and
closes clients and the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.engine import make_url

from billsync import errors
from billsync.app.reconcile_schedule import ReconcileSchedule
from billsync.app.reconciliations import Reconciliations
from billsync.clock import Clock, SystemClock
from billsync.config import Settings
from billsync.connectors import spec
from billsync.connectors.catalogue import default_registry
from billsync.engine.clients import ClientCache, TransportFor, real_network
from billsync.engine.dispatch import Dispatcher, EmbeddedDispatcher, ProcrastinateDispatcher
from billsync.engine.hints import HintResolver
from billsync.engine.intake import Intake
from billsync.engine.poller import Poller
from billsync.engine.ratelimit import RateLimiters
from billsync.engine.reconcile.reconciler import Reconciler
from billsync.engine.recovery import resume_dead_owners
from billsync.engine.retry import RetryPolicy
from billsync.engine.runner import Runner
from billsync.engine.worker import Worker
from billsync.store import served_url as served_store
from billsync.store.database import Database
from billsync.store.liveness import Liveness
from billsync.store.rate_limits import RateLimitStore
from billsync.store.vault import Vault, default_key_file, open_vault

if TYPE_CHECKING:  # procrastinate comes with the optional `postgres` extra
    from billsync.engine.job_worker import JobWorker

log = structlog.get_logger(__name__)


@dataclass
class App:
    """Everything one billsync process runs, built once by `build`."""

    settings: Settings
    clock: Clock
    db: Database
    vault: Vault
    registry: spec.Registry
    clients: ClientCache
    limiters: RateLimiters
    dispatcher: Dispatcher
    runner: Runner
    #: the embedded claimer, or the procrastinate worker (settings.dispatcher)
    worker: Worker | JobWorker
    intake: Intake
    poller: Poller
    reconciler: Reconciler
    reconciliations: Reconciliations
    reconcile_schedule: ReconcileSchedule
    hints: HintResolver
    #: the embedded worker's proof of life, so a restart resumes a dead one's runs at once
    liveness: Liveness
    transport_for: TransportFor = real_network
    #: The public URL the running (or last) `billsync serve` recorded in the database, once
    #: `load_served_url` read it (commands in other processes: the CLI).
    served_url: str | None = None
    _started: bool = field(default=False, repr=False)

    @property
    def public_url(self) -> str:
        """The base of the webhook URLs shown to users: BILLSYNC_PUBLIC_URL when set, else
        the URL the running (or last) `billsync serve` recorded (when loaded), else the
        address this process's settings listen on."""
        if "public_url" in self.settings.model_fields_set:
            return self.settings.public_url.rstrip("/")
        return (self.served_url or listening_url(self.settings)).rstrip("/")

    async def load_served_url(self) -> None:
        """For a process that does not serve: show webhook URLs at the address `billsync
        serve` recorded (it may listen on a --port this process cannot know)."""
        async with self.db.read() as session:
            self.served_url = await served_store.get(session)

    async def _record_served_url(self) -> None:
        async with self.db.write() as session:
            await served_store.record(session, self.public_url, now=self.clock.now())

    async def migrate(self) -> None:
        await self.db.migrate()

    async def start(
        self,
        *,
        worker: bool = True,
        poller: bool = True,
        schedule: bool | None = None,
        hints: bool = True,
    ) -> None:
        """Migrate, then start the worker, the poller, the reconciliation schedule and the
        hint resolver (each can be left off; the schedule, periodic work like polling,
        follows the poller; a process that takes webhooks resolves their hints)."""
        if self._started:
            return
        await self.migrate()
        await self.reconciliations.recover()
        if worker:
            await self._resume_dead_owners()
            await self.worker.start()
        if poller:
            await self.poller.start()
        schedule = poller if schedule is None else schedule
        if schedule:
            await self.reconcile_schedule.start()
        if hints:
            # A process that takes webhooks says where: webhook URLs shown by commands in
            # other processes (the CLI) then reach it.
            await self._record_served_url()
            await self.hints.start()
        self._started = True
        log.info("billsync started", worker=worker, poller=poller, schedule=schedule, hints=hints)

    async def _resume_dead_owners(self) -> None:
        """Prove this worker alive, then give the runs of dead workers (a serve or worker
        killed before this one started) back to the queue at once, not at lease expiry. A
        procrastinate worker keeps judging the others while it runs (engine/job_worker.py)."""
        await self.liveness.start(self.worker.owner, now=self.clock.now())
        await resume_dead_owners(self.db, self.liveness, self.dispatcher, self.clock)

    async def stop(self) -> None:
        """Stop taking work, finish or release in-flight runs, close clients and the DB."""
        await self.hints.stop()
        await self.reconcile_schedule.stop()
        await self.reconciliations.stop()
        await self.poller.stop()
        await self.worker.stop()
        await self.liveness.stop()
        await self.clients.aclose()
        await self.limiters.aclose()
        await self.db.dispose()
        self._started = False
        log.info("billsync stopped")


def load_settings(
    *, host: str | None = None, port: int | None = None, database_url: str | None = None
) -> Settings:
    """The one place the environment is read: BILLSYNC_* (and .env), then overrides.

    BILLSYNC_PUBLIC_URL stays unset (out of `model_fields_set`) when it is not configured:
    `App.public_url` then picks the served or listening address."""
    settings = Settings()
    update: dict[str, object] = {}
    if host is not None:
        update["host"] = host
    if port is not None:
        update["port"] = port
    if database_url is not None:
        update["database_url"] = database_url
    return settings.model_copy(update=update)


def listening_url(settings: Settings) -> str:
    """http://host:port of the settings' listening address (a wildcard host reads as
    127.0.0.1, the address a browser on this machine can open)."""
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{shown}:{settings.port}"


class DispatcherError(errors.ConfigError):
    """BILLSYNC_DISPATCHER names a dispatcher the database cannot carry."""


def dispatcher_kind(settings: Settings) -> str:
    """`embedded` or `procrastinate`: the setting, else procrastinate on PostgreSQL."""
    postgres = make_url(settings.database_url).get_backend_name() == "postgresql"
    kind = settings.dispatcher or ("procrastinate" if postgres else "embedded")
    if kind == "procrastinate" and not postgres:
        raise DispatcherError(
            "BILLSYNC_DISPATCHER=procrastinate needs PostgreSQL (a postgresql+psycopg:// "
            "database URL); SQLite runs the embedded dispatcher only: unset "
            "BILLSYNC_DISPATCHER or set it to embedded"
        )
    return kind


class DatabaseMissingError(errors.ConfigError):
    """There is no billsync database at the configured URL."""


async def require_database(settings: Settings) -> None:
    """Raise DatabaseMissingError, creating nothing, unless a billsync database exists at
    `settings.database_url` (read-only commands must not leave an empty database behind)."""
    db = Database(settings.database_url)
    try:
        try:
            found = await db.exists()
        except Exception as exc:  # the driver's own error: unreachable server, bad database
            # The driver's first line ("database \"x\" does not exist"); it never holds the
            # password, which display_url masks.
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise DatabaseMissingError(
                f"cannot open the database {db.display_url}: "
                f"{reason[0] if reason else type(exc).__name__}"
            ) from exc
    finally:
        await db.dispose()
    if not found:
        raise DatabaseMissingError(
            f"no billsync database at {db.display_url} (nothing was created): pass --db or "
            "set BILLSYNC_DATABASE_URL; `billsync serve` and `billsync demo` create one"
        )


def open_app_vault(settings: Settings, db: Database) -> Vault:
    key_file = settings.key_file or default_key_file(db.sqlite_path)
    return open_vault(settings.secret_key_list(), key_file)


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    registry: spec.Registry | None = None,
    transport_for: TransportFor = real_network,
) -> App:
    """Wire one App. `transport_for` routes a connection's HTTP (tests: in-process apps)."""
    clock = clock or SystemClock()
    registry = registry or default_registry()
    kind = dispatcher_kind(settings)
    db = Database(settings.database_url)
    vault = open_app_vault(settings, db)
    # PostgreSQL: one bucket per connection in the database for every process, however
    # many; SQLite: this process's own, at its share of the machine's processes.
    limiters = (
        RateLimiters(share=1 / settings.rate_limit_processes)
        if db.is_sqlite
        else RateLimiters(store=RateLimitStore(db))
    )
    clients = ClientCache(
        registry,
        vault,
        transport_for=transport_for,
        timeout=settings.http_timeout,
        limiters=limiters,
    )
    dispatcher: EmbeddedDispatcher | ProcrastinateDispatcher
    if kind == "procrastinate":
        # Imported here: procrastinate is the optional `postgres` extra, absent on SQLite.
        from billsync.engine.job_queue import JobQueue

        dispatcher = ProcrastinateDispatcher(JobQueue(settings.database_url))
    else:
        dispatcher = EmbeddedDispatcher()
    policy = RetryPolicy(
        max_attempts=settings.retry_max_attempts,
        base=settings.retry_base_seconds,
        cap=settings.retry_cap_seconds,
    )
    runner = Runner(
        db,
        registry,
        clients,
        clock=clock,
        policy=policy,
        limiters=limiters,
        lease_seconds=settings.lease_seconds,
        heartbeat_seconds=settings.heartbeat_seconds,
        dispatcher=dispatcher,
    )
    liveness = Liveness(db)
    worker: Worker | JobWorker
    if isinstance(dispatcher, ProcrastinateDispatcher):
        from billsync.engine.job_worker import JobWorker

        worker = JobWorker(
            db,
            runner,
            dispatcher,
            clock=clock,
            slots=settings.worker_slots,
            lease_seconds=settings.lease_seconds,
            reconcile_seconds=settings.reconcile_seconds,
            poll_seconds=settings.job_poll_seconds,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            heartbeat_seconds=settings.job_heartbeat_seconds,
            stalled_seconds=settings.stalled_worker_seconds,
            reap_seconds=settings.job_heartbeat_seconds,
            liveness=liveness,
        )
    else:
        worker = Worker(
            db,
            runner,
            dispatcher,
            clock=clock,
            slots=settings.worker_slots,
            lease_seconds=settings.lease_seconds,
            reconcile_seconds=settings.reconcile_seconds,
            poll_seconds=settings.worker_poll_seconds,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
        )
    intake = Intake(db, registry, clients, dispatcher, vault, clock=clock, limiters=limiters)
    poller = Poller(
        db,
        registry,
        clients,
        intake,
        limiters=limiters,
        clock=clock,
        interval=settings.poll_interval,
    )
    reconciler = Reconciler(db, clients, intake, clock=clock)
    reconciliations = Reconciliations(db, clock, reconciler)
    reconcile_schedule = ReconcileSchedule(reconciliations, clock, every=settings.reconcile_every)
    hint_resolver = HintResolver(db, registry, clients, intake, limiters=limiters, clock=clock)
    return App(
        settings=settings,
        clock=clock,
        db=db,
        vault=vault,
        registry=registry,
        clients=clients,
        limiters=limiters,
        dispatcher=dispatcher,
        runner=runner,
        worker=worker,
        intake=intake,
        poller=poller,
        reconciler=reconciler,
        reconciliations=reconciliations,
        reconcile_schedule=reconcile_schedule,
        hints=hint_resolver,
        liveness=liveness,
        transport_for=transport_for,
    )
