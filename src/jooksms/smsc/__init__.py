"""The SMSC simulator (``jooksms smsc-sim``): an SMPP 3.4 server that answers like a
carrier, misbehaves on request, and records what it was sent. See ``simulator.py``."""

from .config import IdFormat, ReceiptPolicy, SimulatorConfig
from .misbehaviour import (
    DropAfter,
    Misbehaviour,
    Misbehaviours,
    QueueFull,
    ReceiptFirst,
    RefuseBinds,
    SlowResponses,
    Throttle,
)
from .simulator import Injected, Simulator
from .stats import Stats, SubmitRecord

__all__ = [
    "DropAfter",
    "IdFormat",
    "Injected",
    "Misbehaviour",
    "Misbehaviours",
    "QueueFull",
    "ReceiptFirst",
    "ReceiptPolicy",
    "RefuseBinds",
    "Simulator",
    "SimulatorConfig",
    "SlowResponses",
    "Stats",
    "SubmitRecord",
    "Throttle",
]
