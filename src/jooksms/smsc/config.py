"""What a simulator does: one frozen, validated object, built by the caller.

Every knob has a default that makes a well-behaved SMSC on an ephemeral port, so a
test names only what it is about. Bad values fail here, when the config is built,
not later in the middle of a session.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

#: SMPP 3.4 limits, NUL excluded: system_id is 16 octets, password 9.
MAX_SYSTEM_ID: Final = 15
MAX_PASSWORD: Final = 8
DEFAULT_ACCOUNTS: Final[Mapping[str, str]] = MappingProxyType({"jooksms": "secret"})


class IdFormat(enum.StrEnum):
    """How submit_sm_resp message ids look. Carriers differ, and the delivery engine
    must match receipt ids in either form."""

    HEX = "hex"
    DECIMAL = "decimal"


class ReceiptPolicy(enum.StrEnum):
    #: As SMPP says: registered_delivery bit 0 asks for every outcome, bit 1 for failures.
    REQUESTED = "requested"
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    #: 0 picks a free port; read it back from ``Simulator.port``.
    port: int = 0
    #: None serves no HTTP; 0 picks a free port (``Simulator.http_port``).
    http_port: int | None = None
    #: system_id -> password of the ESMEs allowed to bind.
    accounts: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACCOUNTS))
    #: The system_id this SMSC names itself with in bind responses.
    smsc_id: str = "JookSMSC"

    id_format: IdFormat = IdFormat.HEX
    receipts: ReceiptPolicy = ReceiptPolicy.REQUESTED
    #: Seconds between accepting a submit and sending its receipt.
    receipt_delay: float = 1.0
    #: Share of accepted messages whose receipt says UNDELIV.
    failure_rate: float = 0.0
    #: The ``err`` of a failed receipt (also sent as network_error_code).
    failure_error: int = 1
    #: Makes ids, failures and queue-full answers repeat from run to run.
    seed: int | None = None

    # Misbehaviours (see misbehaviour.py); the defaults turn each one off.
    #: Answer ESME_RTHROTTLED above this many submits per second per system_id.
    throttle: float | None = None
    #: Share of submits answered ESME_RMSGQFUL.
    queue_full_rate: float = 0.0
    #: Close a session after answering this many of its submits.
    drop_after: int | None = None
    #: Seconds to wait before each submit_sm_resp.
    response_delay: float = 0.0
    #: Send the receipt before the submit_sm_resp that carries its id.
    receipt_first: bool = False
    #: Refuse every bind with ESME_RBINDFAIL.
    refuse_binds: bool = False

    #: deliver_sm sent to one session and not yet acknowledged, as a real SMSC limits them.
    deliver_window: int = 100
    #: deliver_sm held per system_id while no receiver has room; the oldest go first.
    pending_limit: int = 100_000
    #: Seconds before a deliver_sm the ESME answered with a temporary error goes again.
    redeliver_delay: float = 5.0
    #: How many times one deliver_sm is sent while the ESME answers it with temporary
    #: errors; it is dropped after that many (1: never sent again).
    redeliver_attempts: int = 5
    #: Submits kept in ``stats.records`` (the counters are always exact); None keeps all.
    record_limit: int | None = 100_000
    #: Seconds ``stop()`` waits for bound ESMEs to answer its unbind.
    stop_grace: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "accounts", MappingProxyType(dict(self.accounts)))
        object.__setattr__(self, "id_format", IdFormat(self.id_format))
        object.__setattr__(self, "receipts", ReceiptPolicy(self.receipts))
        _check_accounts(self.accounts)
        _check_port("port", self.port)
        if self.http_port is not None:
            _check_port("http_port", self.http_port)
        for name in ("failure_rate", "queue_full_rate"):
            _check_share(name, getattr(self, name))
        for name in ("receipt_delay", "response_delay", "redeliver_delay", "stop_grace"):
            _check_seconds(name, getattr(self, name))
        _check_optional_positive(self)
        for name in ("pending_limit", "redeliver_attempts"):
            _check_count(name, getattr(self, name))
        if not 0 <= self.failure_error <= 0xFFFF:
            raise ValueError(f"failure_error must be in 0..65535, not {self.failure_error}")
        if not 0 < len(self.smsc_id) <= MAX_SYSTEM_ID:
            raise ValueError(f"smsc_id must be 1 to {MAX_SYSTEM_ID} characters")


def _check_accounts(accounts: Mapping[str, str]) -> None:
    if not accounts:
        raise ValueError("accounts must name at least one system_id")
    for system_id, password in accounts.items():
        if not 0 < len(system_id) <= MAX_SYSTEM_ID:
            raise ValueError(f"system_id {system_id!r} must be 1 to {MAX_SYSTEM_ID} characters")
        if len(password) > MAX_PASSWORD:
            raise ValueError(f"the password of {system_id!r} exceeds {MAX_PASSWORD} characters")


def _check_port(name: str, port: int) -> None:
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"{name} must be in 0..65535, not {port}")


def _check_share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {value}")


def _check_seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value}")


def _check_optional_positive(config: SimulatorConfig) -> None:
    checks: dict[str, float | None] = {
        "throttle": config.throttle,
        "drop_after": config.drop_after,
        "deliver_window": config.deliver_window,
    }
    for name, value in checks.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive, not {value}")
    if config.record_limit is not None and config.record_limit < 0:
        raise ValueError(f"record_limit must be >= 0, not {config.record_limit}")


def _check_count(name: str, value: int) -> None:
    # bool is an int, but True for a limit is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
