"""The demo generator: batches of rows for customers in id order. Pure."""

from __future__ import annotations

from collections.abc import Iterator

from outreach.demo.base import TABLES, Batch
from outreach.demo.customers import Customers


class Generator(Customers):
    """Makes batches of rows for customers start.ids['customers'], … in order. Pure."""

    def batch(self, count: int) -> Batch:
        out: Batch = {name: [] for name, _ in TABLES}
        for _ in range(count):
            self._customer(out)
        return out

    def batches(self, customers: int, batch_size: int) -> Iterator[Batch]:
        done = 0
        while done < customers:
            n = min(batch_size, customers - done)
            yield self.batch(n)
            done += n
