"""The progress meter of the long commands: a bar with count, rate and time left on a
terminal; JSON lines (or nothing) when stderr is not a terminal."""

from __future__ import annotations

import io
import json

from outreach.cli.progress import Meter


def test_not_a_terminal_gives_json_lines_with_count_total_and_rate() -> None:
    out = io.StringIO()
    with Meter("送信", 300, json_lines=True, stream=out, tty=False) as m:
        for _ in range(3):
            m.advance(100)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["progress"] == "送信" and lines[0]["total"] == 300
    assert lines[-1]["done"] == 300 and lines[-1]["rate"] > 0


def test_not_a_terminal_without_json_is_quiet() -> None:
    out = io.StringIO()
    with Meter("demo-data", 10, stream=out, tty=False) as m:
        m.advance(10)
    assert out.getvalue() == ""


def test_a_terminal_shows_count_rate_and_time_left() -> None:
    out = io.StringIO()
    with Meter("import customers", 1000, json_lines=True, stream=out, tty=True) as m:
        m.advance(400)
        m.advance(600)
    shown = out.getvalue()
    assert "import customers" in shown and "1000/1000" in shown
    assert "件/秒" in shown
    assert "{" not in shown  # no JSON on a terminal
