"""Property-based run of our own OpenAPI document with schemathesis: on every operation,
with a real account's token, no 5xx, no response outside what the document promises,
and no valid input (as the document describes it) refused; then stateful runs that
follow the document's links (create, then read, change, delete what was created).

The document's two custom string formats (``phone``, ``jooksms-date``) get strategies
here that write valid values the many ways clients do; a cross-field rule JSON Schema
cannot state (``to_date`` not before ``from_date``; at least one filter in a search's
query string) is kept by filtering the generated cases, not by excusing the answer.

The app under test is served by uvicorn in a thread rather than called through
schemathesis's ASGI transport: that transport runs the app in its own event loop, where
the session app's pooled asyncpg connections fail ("attached to a different loop"). A
fresh app over the same database owns its engine inside the server's loop.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import phonenumbers
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from jooksms.api.app import OPENAPI_URL, create_app
from jooksms.api.schemas import DATE_FORMAT, PHONE_FORMAT
from jooksms.config import Settings, load_settings
from jooksms.domain.dates import parse_datetime
from jooksms.platform import Platform
from tests.conftest import Tenant
from tests.helpers.live import serve_in_thread

# Fixed, so that CI replays exactly the cases a local run saw. The variables allow a
# deeper or different run by hand; they are not set in CI.
SEED = int(os.environ.get("JOOKSMS_FUZZ_SEED", "20160626"))
MAX_EXAMPLES = int(os.environ.get("JOOKSMS_FUZZ_MAX_EXAMPLES", "30"))
STATEFUL_EXAMPLES = int(os.environ.get("JOOKSMS_FUZZ_STATEFUL_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    # A method the path does not serve: 405 with an Allow header naming those it does.
    unsupported_method,
    allow_header_conformance,
    # Input the document describes as valid is not refused (no 400 or 422).
    positive_data_acceptance,
]


def _written_numbers() -> st.SearchStrategy[str]:
    """Possible numbers of any region, written as clients write them."""
    examples = [
        n for r in sorted(phonenumbers.SUPPORTED_REGIONS) if (n := phonenumbers.example_number(r))
    ]

    def write(number: phonenumbers.PhoneNumber, style: int) -> str:
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        spaced = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        code, _, rest = spaced.partition(" ")
        return [e164, spaced, "00" + e164[1:], e164[1:], f"({code}) {rest}"][style]

    return st.builds(write, st.sampled_from(examples), st.integers(0, 4))


def _written_dates() -> st.SearchStrategy[str]:
    """Dates in the seed's forms and ISO 8601, with the zones the API reads."""
    zones = st.sampled_from(["", " UTC", " GMT-5", " +0600", " +05:00", " America/Panama", "Z"])
    return st.builds(
        lambda d, sep, seconds, zone: (
            d.strftime(
                f"%Y{sep}%m{sep}%d{'T' if zone == 'Z' else ' '}%H:%M{':%S' if seconds else ''}"
            )
            + zone
        ),
        st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2098, 12, 31)),
        st.sampled_from(["/", "-"]),
        st.booleans(),
        zones,
    )


schemathesis.openapi.format(PHONE_FORMAT, _written_numbers())
schemathesis.openapi.format(DATE_FORMAT, _written_dates())

_SEARCH = "/api/v1/sms/search/messages"
_FILTERS = ("number", "from_date", "to_date", "query")


def _dates_in_order(fields: dict[str, Any]) -> bool:
    start, end = fields.get("from_date"), fields.get("to_date")
    if not (isinstance(start, str) and isinstance(end, str)):
        return True
    try:
        return parse_datetime(start) <= parse_datetime(end)
    except ValueError:
        return True  # not a date: the server's 422 is what the check expects


# filter_case, unlike filter_body and filter_query, also applies to the coverage phase.
@schemathesis.hook("filter_case").apply_to(path=_SEARCH)
def _search_as_documented(ctx: Any, case: schemathesis.Case) -> bool:
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return True
    fields = {**(case.query or {}), **(case.body if isinstance(case.body, dict) else {})}
    given = any(isinstance(fields.get(k), str) and fields[k].strip() for k in _FILTERS)
    return given and _dates_in_order(fields)


_keys = itertools.count()


def _unique_key(case: schemathesis.Case) -> None:
    """A client makes a key per request; the fuzzer's keys repeat ("0", "0", ...), and
    a repeated key with another request is rightly a 422. A count appended to each
    generated key keeps it valid and makes it unique."""
    if case.headers and "Idempotency-Key" in case.headers:
        key = case.headers["Idempotency-Key"][:240]  # room for the count within 255
        case.headers["Idempotency-Key"] = f"{key}-{next(_keys)}"


def _document() -> dict[str, object]:
    """The OpenAPI document, built at import so that each operation is its own test.
    (schemathesis's lazy ``from_fixture`` loader does not run on pytest 9.) Building it
    opens no database connection."""
    return create_app(Platform(load_settings(database_url="sqlite:///:memory:"))).openapi()


schema = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                # No replay of failures saved by an earlier run: every run is the same run.
                "database": "none",
            },
        }
    ),
)


@pytest.fixture(scope="session")
def live_api(settings: Settings) -> Iterator[str]:
    # Generated webhook URLs name hosts that do not resolve here: with private
    # addresses allowed, none is looked up (the refusal has tests of its own).
    fuzzed = settings.model_copy(update={"webhooks_allow_private": True})
    with serve_in_thread(create_app(Platform(fuzzed))) as base_url:
        yield base_url


@pytest.fixture
def bearer(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": tenant.http.headers["Authorization"]}


# The event stream never ends by itself: tests/api/test_events_api.py reads it.
@schema.exclude(path="/api/v1/events/stream").parametrize()
# The fixtures only carry the server's URL and a token, the same for every example.
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_operation_keeps_its_documented_contract(
    case: schemathesis.Case, live_api: str, bearer: dict[str, str]
) -> None:
    _unique_key(case)
    case.call_and_validate(base_url=live_api, headers=bearer, checks=CHECKS)


# Each workflow is run on the operations it is about. On the whole document, schemathesis
# starts only from operations it deems likely to succeed with random input, and it reads
# ``external_id`` and ``contact_group_id`` as references to objects nothing creates, so
# sending a message and creating a contact would never start a run.
WORKFLOWS = {
    "send, then get or cancel": (r"^/api/v1/sms(/\{message_id\})?$", "/api/v1/sms"),
    "create a contact, then get, change or delete it": (
        r"^/api/v1/contact(/\{contact_id\})?$",
        "/api/v1/contact",
    ),
    "create a group, then get, rename, delete it or add contacts": (
        r"^/api/v1/contact_group",
        None,
    ),
}


@pytest.mark.parametrize("workflow", list(WORKFLOWS))
def test_links_run_statefully(live_api: str, bearer: dict[str, str], workflow: str) -> None:
    """Follow the document's links from what a step created to the next step."""
    paths, listing = WORKFLOWS[workflow]
    operations = schema.include(path_regex=paths)
    if listing:
        operations = operations.exclude(method="GET", path=listing)

    class Workflow(operations.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            _unique_key(case)
            return {"base_url": live_api, "headers": bearer}

        def validate_response(self, response: Any, case: schemathesis.Case, **kw: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=hypothesis_settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_fuzzed_document_is_the_served_one(live_api: str) -> None:
    assert httpx.get(f"{live_api}{OPENAPI_URL}").json() == _document()


# Random ids and numbers seldom name a real object, so the fuzzer mostly sees errors.
# This walk gives every operation real objects and checks its success body against the
# document: contact wrapper or none, pagination links as object and as [], bulk errors.


def _conforms(response: httpx.Response, method: str, path: str, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    schema[path][method].validate_response(response)
    return response.json()


async def test_real_objects_match_the_document(tenant: Tenant, anon: httpx.AsyncClient) -> None:
    creds = {"client_id": tenant.client_id, "client_secret": tenant.client_secret}
    token = "/api/v1/oauth/access_token"
    _conforms(await anon.post(token, data=creds), "POST", token)
    _conforms(await anon.post(token, data={**creds, "client_secret": "x"}), "POST", token, 401)
    _conforms(await anon.post(token, content=b"{oops"), "POST", token, 400)
    _conforms(await tenant.get("/api/v1/numbers"), "GET", "/api/v1/numbers")

    group = _conforms(
        await tenant.post("/api/v1/contact_group", json={"name": "VIP"}),
        "POST",
        "/api/v1/contact_group",
    )["data"]
    contact = _conforms(
        await tenant.post(
            "/api/v1/contact",
            json={
                "first_name": "Nestor",
                "last_name": "Panama",
                "main_phone": "+50768819519",
                "reference": "ABC",
                "contact_group_id": group["id"],
            },
        ),
        "POST",
        "/api/v1/contact",
    )["data"]
    await _walk_messages(tenant)
    await _walk_contacts(tenant, contact["id"], group["id"])


async def _walk_messages(t: Tenant) -> None:
    send = {"to": "+50768819519", "body": "Just a test", "external_id": 999}
    later = {**send, "scheduled": "2099/06/26 10:00 GMT-5"}
    known = _conforms(await t.post("/api/v1/sms", json=later), "POST", "/api/v1/sms")["data"]
    assert known["contact"]["data"]["first_name"] == "Nestor"
    stranger = {"to": "+50767832484", "body": "hi"}
    unknown = _conforms(await t.post("/api/v1/sms", data=stranger), "POST", "/api/v1/sms")
    assert "contact" not in unknown["data"]

    bulk = {"body": "Hi", "list": [{"to": "+50767832484"}, {"to": "nope"}]}
    ids = _conforms(await t.post("/api/v1/sms/to_many", json=bulk), "POST", "/api/v1/sms/to_many")
    assert ids["ids"][1] == -1 and ids["errors"]
    many = {"list": [{"to": "+50767832484", "body": "a", "first_name": "Laura"}]}
    _conforms(await t.post("/api/v1/sms/many", json=many), "POST", "/api/v1/sms/many")

    one = "/api/v1/sms/{message_id}"
    _conforms(await t.get(f"/api/v1/sms/{known['id']}"), "GET", one)
    _conforms(
        await t.get("/api/v1/sms/by_external/999"), "GET", "/api/v1/sms/by_external/{external_id}"
    )
    for query in ("", "?per_page=1", "?per_page=1&page=2"):
        _conforms(await t.get(f"/api/v1/sms{query}"), "GET", "/api/v1/sms")
    search = "/api/v1/sms/search/messages"
    _conforms(await t.post(search, json={"query": "test"}), "POST", search)
    _conforms(await t.get(f"{search}?number=%2B50767832484&per_page=1"), "GET", search)
    canceled = _conforms(await t.delete(f"/api/v1/sms/{known['id']}"), "DELETE", one)
    assert canceled["data"]["status"] == "canceled"
    _conforms(await t.delete(f"/api/v1/sms/{known['id']}"), "DELETE", one, 409)


async def _walk_contacts(t: Tenant, contact_id: int, group_id: int) -> None:
    one = "/api/v1/contact/{contact_id}"
    url = f"/api/v1/contact/{contact_id}"
    _conforms(await t.get(url), "GET", one)
    _conforms(await t.get("/api/v1/contact?per_page=1"), "GET", "/api/v1/contact")
    _conforms(await t.request("PUT", url, json={"last_name": None}), "PUT", one)
    _conforms(await t.request("PATCH", url, data={"reference": "B"}), "PATCH", one)

    group = "/api/v1/contact_group/{group_id}"
    gurl = f"/api/v1/contact_group/{group_id}"
    _conforms(await t.get(gurl), "GET", group)
    _conforms(await t.get("/api/v1/contact_group"), "GET", "/api/v1/contact_group")
    _conforms(await t.request("PUT", gurl, json={"name": "VIP 2"}), "PUT", group)
    _conforms(await t.request("PATCH", gurl, json={"name": "VIP 3"}), "PATCH", group)
    members = f"{group}/contacts"
    _conforms(await t.post(f"{gurl}/contacts", json={"contact_ids": [contact_id]}), "POST", members)
    _conforms(await t.get(f"{gurl}/contacts"), "GET", members)
    _conforms(
        await t.delete(f"{gurl}/contacts/{contact_id}"), "DELETE", f"{members}/{{contact_id}}"
    )
    _conforms(await t.delete(gurl), "DELETE", group)
    _conforms(await t.delete(url), "DELETE", one)
    _conforms(await t.get(url), "GET", one, 404)
