"""The daily reminder run for a date D: candidates → gate → outbox, exactly once.

1. Window: stage dates after the last completed run (catch-up, at most
   `catch_up_max_days`) up to D. The pure rules pick, per cycle, only the latest stage in it.
2. Select the due vehicles and policies with indexed date-range selects, streamed.
3. For each chunk of candidates, in one transaction: skip what is already queued, choose the
   channel (preference order among the channels the customer is reachable on; the next one
   when the gate denies the first), ask the gate in batches, record every decision, and
   queue each allowed one under its idempotency key (a duplicate is skipped, never an error).
4. Flag 自賠責 cover gaps (R32), prepare the day's print batch (outreach.letters) and the
   call lists of the calling days (outreach.worklists), store the summary.

A run killed half-way leaves committed chunks behind; the next run for the date has the
same window (the killed run never completed), skips what is queued and finishes the rest.

The package, by concept: `setup` (what a run loads once), `selection` (the selection SQL),
`channels` (channel choice, gate and outbox), `flags` (R32), `summary`, `runner` (the run
and the scheduled job). The public names are re-exported here.
"""

from outreach.daily.channels import Contact, process
from outreach.daily.flags import GAP_MESSAGE, flag_gaps
from outreach.daily.runner import Progress, run, scheduled, window_for
from outreach.daily.selection import IN_CHUNK, STREAM_BATCH, collect
from outreach.daily.setup import Setup, setup, template_fields
from outreach.daily.summary import Summary

__all__ = [
    "GAP_MESSAGE",
    "IN_CHUNK",
    "STREAM_BATCH",
    "Contact",
    "Progress",
    "Setup",
    "Summary",
    "collect",
    "flag_gaps",
    "process",
    "run",
    "scheduled",
    "setup",
    "template_fields",
    "window_for",
]
