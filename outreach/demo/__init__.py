"""`outreach demo-data`: deterministic synthetic dealer data that exercises every gate branch.

Same seed, same `today` and an empty database → the same rows. The data streams: customers are
made and written `batch_size` at a time (one transaction per batch, batched multi-row inserts),
with ids assigned here in order so child rows reference them without a round trip; nothing but
the current batch is held in memory.

Consent states are written the only consistent way: each customer's events are made first,
hash-chained with `gate.ledger.event_hash`, and the preferences on the customer record are
`gate.ledger.derive(events)`, so `outreach consent verify` passes on demo data.

What the mix exercises (per customer, independently drawn): no email; every email basis
(opt_in, written, transaction, published) and none; hard-bounced addresses (suppressions);
deceased and closed customers; joint-use data from partners in and out of the policy's scope;
a privacy notice older than the current one, some with consent to the newer purpose; opt-outs
of every scope kind (all, category, channel, purpose, kind) including withdrawn ones;
cessation of use (利用停止) and its lifting; insurer-share consent; sensitive records (with
consent); vehicles sold, scrapped, leased or on credit; policies of every insurer, some held
as the insurer's processor, some 自賠責 ending before the 車検 (a cover gap). A share of
vehicles and policies falls due within ~3 months of `today` so the daily run has work.

The package, by what it makes: `base` (ids, draws, tables), `customers` (customers and their
email bases), `consent` (the hash-chained consent events), `vehicles` (vehicles and insurance
policies), `generator` (batches), `writing` (into the database); `lists` holds the names,
places and cars drawn from.
"""

from outreach.candidates.calendar import add_months
from outreach.clock import JST
from outreach.demo import lists as L
from outreach.demo.base import (
    BATCH,
    CURRENT_NOTICE,
    NEW_PURPOSE,
    TABLES,
    Batch,
    Start,
    Weighted,
    add_years,
    shaken_expiry,
)
from outreach.demo.generator import Generator
from outreach.demo.writing import (
    Summary,
    customer_count,
    ensure_stores,
    fix_sequences,
    load,
    notice_of,
    prepare,
    start_ids,
    write,
)

__all__ = [
    "BATCH",
    "CURRENT_NOTICE",
    "JST",
    "NEW_PURPOSE",
    "TABLES",
    "Batch",
    "Generator",
    "L",
    "Start",
    "Summary",
    "Weighted",
    "add_months",
    "add_years",
    "customer_count",
    "ensure_stores",
    "fix_sequences",
    "load",
    "notice_of",
    "prepare",
    "shaken_expiry",
    "start_ids",
    "write",
]
