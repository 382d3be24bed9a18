"""schemathesis against the staff API's own OpenAPI document, over a real socket, on both
databases: generated requests (valid and invalid) never produce a server error."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from staffkit import APPROVER, MARKETER, PASSWORD, add_users, campaign_data, seed_customers, serving

from outreach import bootstrap
from outreach import settings as settings_mod
from outreach.clock import FixedClock
from outreach.web import staff as staff_web

EXAMPLES = 8
SKIP = {("DELETE", "/session")}  # logging out would end the token the run uses


@pytest.fixture
def server(app_settings: settings_mod.Settings) -> Iterator[str]:
    """The standalone staff app served from its own thread and event loop."""
    ready: dict[str, Any] = {}
    started = threading.Event()
    stop = threading.Event()

    async def main() -> None:
        app = bootstrap.build(app_settings, clock=FixedClock())
        try:
            await add_users(app, MARKETER, APPROVER)
            await seed_customers(app)
            async with serving(staff_web.standalone(app)) as url:
                ready["url"] = url
                started.set()
                await asyncio.to_thread(stop.wait)
        except BaseException as e:
            ready["error"] = e
            started.set()
            raise
        finally:
            await app.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    started.wait(60)
    if "error" in ready:
        raise ready["error"]
    yield ready["url"]
    stop.set()
    thread.join(30)


def _token(url: str, username: str) -> str:
    r = httpx.post(f"{url}/api/v1/session", json={"username": username, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["token"])


def test_the_api_never_answers_with_a_server_error(server: str) -> None:
    marketer = {"authorization": f"Bearer {_token(server, 'mika')}"}
    approver = {"authorization": f"Bearer {_token(server, 'aoi')}"}
    created = httpx.post(f"{server}/api/v1/campaigns", json=campaign_data(), headers=marketer)
    assert created.status_code == 201, created.text
    spec = httpx.get(f"{server}/api/v1/openapi.json", headers=marketer).json()
    schema = schemathesis.openapi.from_dict(spec)
    base = f"{server}/api/v1"
    tried: list[str] = []
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        tried.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case[Any]) -> None:
            for headers in (marketer, approver):
                response = case.call(base_url=base, headers=headers, timeout=30)
                statuses[response.status_code] += 1
                case.validate_response(response, checks=[not_a_server_error])

        run()
    assert len(tried) >= 20, tried
    # the run reached the handlers, not only the validators: successes and refusals both
    assert statuses[200] > 0 and statuses[422] > 0 and statuses[403] > 0, statuses
