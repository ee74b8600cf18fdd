"""jooksms webhook add|list|remove|replay, run as real processes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.cli import run_cli as _run

ALLOW = {"JOOKSMS_WEBHOOKS_ALLOW_PRIVATE": "true"}


def test_add_list_replay_remove(tmp_path: Path) -> None:
    assert _run(tmp_path, "db", "upgrade").returncode == 0
    account = json.loads(_run(tmp_path, "account", "create", "--name", "W").stdout)["id"]
    acc = ("--account", str(account))
    added = _run(
        tmp_path, "webhook", "add", *acc, "--url", "http://127.0.0.1:9/x",
        "--event-type", "message.delivered", "--batch", env=ALLOW,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    hook = json.loads(added.stdout)
    assert hook["secret"].startswith("whsec_")
    assert (hook["event_types"], hook["batch"]) == (["message.delivered"], True)
    listed = json.loads(_run(tmp_path, "webhook", "list", *acc).stdout)
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    replay = _run(tmp_path, "webhook", "replay", *acc, str(hook["id"]), "--since", "2020-01-01")
    assert json.loads(replay.stdout) == {"replayed": 0}
    assert _run(tmp_path, "webhook", "remove", *acc, str(hook["id"])).returncode == 0
    assert json.loads(_run(tmp_path, "webhook", "list", *acc).stdout) == []
    gone = _run(tmp_path, "webhook", "remove", *acc, str(hook["id"]))
    assert gone.returncode == 1


def test_bad_input_is_one_line_and_status_2(tmp_path: Path) -> None:
    assert _run(tmp_path, "db", "upgrade").returncode == 0
    private = _run(tmp_path, "webhook", "add", "--account", "1", "--url", "http://10.0.0.1/x")
    assert private.returncode == 2
    assert private.stderr.startswith("error: --url: ") and "private" in private.stderr
    kind = _run(
        tmp_path, "webhook", "add", "--account", "1", "--url", "https://x.test",
        "--event-type", "nope",
    )  # fmt: skip
    assert (kind.returncode, kind.stderr.strip()) == (
        2,
        "error: --event-type: unknown event type 'nope'",
    )
    date = _run(tmp_path, "webhook", "replay", "--account", "1", "1", "--since", "soon")
    assert date.returncode == 2 and date.stderr.startswith("error: --since: ")
