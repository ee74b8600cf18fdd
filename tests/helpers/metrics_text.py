"""Reading Prometheus text as the tests check it, and the sends they count."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Tenant

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(exposition: bytes | str) -> Samples:
    body = exposition.decode() if isinstance(exposition, bytes) else exposition
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def send(t: Tenant, *, now: int = 0, later: int = 0) -> None:
    """``now`` messages due at once and ``later`` scheduled far ahead."""
    for _ in range(now):
        r = await t.post("/api/v1/sms", json={"to": "+50768819519", "body": "now"})
        assert r.status_code == 200, r.text
    for _ in range(later):
        r = await t.post(
            "/api/v1/sms",
            json={"to": "+50768819519", "body": "later", "scheduled": "2099/01/01 10:00 UTC"},
        )
        assert r.status_code == 200, r.text
