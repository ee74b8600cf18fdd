"""The table handles of the webhook modules, in one place so they import no cycle."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from jooksms.db.models import (
    MessageCallback,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
)

ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
SECRETS = cast(Table, WebhookSecret.__table__)
DELIVERIES = cast(Table, WebhookDelivery.__table__)
ATTEMPTS = cast(Table, WebhookAttempt.__table__)
CALLBACKS = cast(Table, MessageCallback.__table__)
