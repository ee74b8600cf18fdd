"""The event log and its readers: what happened to messages, in order, for the
webhooks, the live stream, the web app and the triggers to react to."""
