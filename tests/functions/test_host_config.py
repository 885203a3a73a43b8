"""host.json and local.settings.sample.json say what the Functions host must know."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pointegration.settings import Settings
from tests.contracts import CONTRACT_SETTINGS

ROOT = Path(__file__).parent.parent.parent


def load(name: str) -> Any:
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


def test_host_json_pins_the_queue_semantics() -> None:
    """host.json: v2, bundle 4.x, base64 messages, 5 dequeues, a visibility wait."""
    host = load("host.json")
    queues = host["extensions"]["queues"]

    assert host["version"] == "2.0"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    assert queues["messageEncoding"] == "base64"
    assert queues["maxDequeueCount"] == 5
    assert queues["visibilityTimeout"] not in ("00:00:00", "0")


def test_sampling_keeps_requests_and_exceptions() -> None:
    """Application Insights sampling never drops requests or exceptions."""
    sampling = load("host.json")["logging"]["applicationInsights"]["samplingSettings"]

    assert {"Request", "Exception"} <= set(sampling["excludedTypes"].split(";"))


def test_sample_settings_list_every_contract_setting() -> None:
    """local.settings.sample.json names every setting of DESIGN §3.3."""
    values = load("local.settings.sample.json")["Values"]

    assert set(CONTRACT_SETTINGS) - set(values) == set()
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"


def test_sample_settings_are_valid_apart_from_the_secret() -> None:
    """The sample validates once a real-looking secret is filled in."""
    values = load("local.settings.sample.json")["Values"]
    environ = {name: str(value) for name, value in values.items()}
    environ["AZURE_CLIENT_SECRET"] = "filled-in-by-the-user"

    settings = Settings.from_env(environ)

    assert settings.auth_mode == "secret"
    assert settings.sync_queue == "pobc-sync"
