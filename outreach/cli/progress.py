"""Progress of a long command (`worker --once`, `run-daily`, `demo-data`, `import`).

On a terminal (stderr is a TTY): a rich progress bar with the count, the rate and the time
left. Otherwise nothing, or with `json_lines` one JSON object per second on stderr
(`{"progress": label, "done": n, "total": t, "rate": r}`) for whatever reads the log.
Never on stdout, which carries the command's result.
"""

from __future__ import annotations

import json
import sys
import time
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _Rate(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}/秒" if speed else f"— {self.unit}/秒")


class Meter:
    """`with Meter(label, total) as m: m.advance(n)` (or `m.update(done, total)`)."""

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        json_lines: bool = False,
        unit: str = "件",
        stream: IO[str] | None = None,
        tty: bool | None = None,
    ) -> None:
        self.label, self.total, self.done, self.unit = label, total, 0, unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.json_lines = json_lines and not self.tty
        self._started = time.monotonic()
        self._said = 0.0
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Meter:
        if self.tty:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _Rate(self.unit),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def advance(self, n: int) -> None:
        self.update(self.done + n)

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=self.total)
        elif self.json_lines:
            now = time.monotonic()
            if now - self._said >= 1.0 or (self.total is not None and done >= self.total):
                self._said = now
                self._line()

    def _line(self) -> None:
        took = time.monotonic() - self._started
        line = {
            "progress": self.label,
            "done": self.done,
            "total": self.total,
            "rate": round(self.done / took, 1) if took > 0 else None,
        }
        print(json.dumps(line, ensure_ascii=False), file=self.stream, flush=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.json_lines and exc is None:
            self._line()
