"""The job scheduler: jobs declared in jobs/*.toml, fired by one leader.

Each job file names what runs (a dotted callable inside `outreach`, "module:function",
called with the scheduler's App first and the file's kwargs),
when (a 5-field cron line, Asia/Tokyo unless `timezone` says otherwise, plus an optional
`second` field), its misfire grace time and whether missed fires coalesce into one. Jobs live
in APScheduler's SQLAlchemy job store in the application database, so a restart keeps the
schedule and a fire missed while no scheduler ran is caught up once (within the grace time).

Only one process fires jobs, however many run `outreach scheduler` or `outreach serve`:

- PostgreSQL: the leader holds a session-level advisory lock (`pg_try_advisory_lock`) on a
  dedicated connection. When the leader dies its connection closes, the lock is released,
  and a standby, retrying every few seconds, takes over.
- SQLite: a lease row in `leases` with an expiry, renewed by the holder. SQLite is the
  single-machine setup: run the scheduler in ONE process (one `outreach serve` or one
  `outreach scheduler`); the lease only guards against an accidental second one.

The jobs are idempotent themselves (the daily run's unique keys), so even a brief overlap
during a takeover cannot queue a message twice.

The package: `jobs` (the job specs in jobs/*.toml), `leadership` (advisory lock / lease row),
`adapter` (APScheduler: triggers, the job store, syncing jobs; the only module that imports
APScheduler), `runner` (the leader loop, `outreach scheduler`, inside `outreach serve`).
"""

from outreach.schedule.adapter import APP_ARG, JOB_TABLE, build_scheduler, sync_jobs, trigger
from outreach.schedule.jobs import DEFAULT_TZ, JobSpec, load_jobs, resolve
from outreach.schedule.leadership import (
    LEASE_NAME,
    LOCK_KEY,
    AdvisoryLock,
    Leadership,
    LeaseRow,
    leadership,
)
from outreach.schedule.runner import (
    run_scheduler,
    serve_forever,
    start_in_background,
    stop_background,
)

__all__ = [
    "APP_ARG",
    "DEFAULT_TZ",
    "JOB_TABLE",
    "LEASE_NAME",
    "LOCK_KEY",
    "AdvisoryLock",
    "JobSpec",
    "Leadership",
    "LeaseRow",
    "build_scheduler",
    "leadership",
    "load_jobs",
    "resolve",
    "run_scheduler",
    "serve_forever",
    "start_in_background",
    "stop_background",
    "sync_jobs",
    "trigger",
]
