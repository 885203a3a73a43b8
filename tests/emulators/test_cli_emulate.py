"""The ``emulate`` command: one JSON line, served until a signal, clean exit."""

from __future__ import annotations

import argparse
import json
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pointegration.cli import emulate
from pointegration.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0


def _first_line(process: subprocess.Popen[str]) -> str:
    """The first stdout line, or a failure if none comes in time."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=STARTUP_TIMEOUT_S):
            pytest.fail("emulate printed nothing in time")

    return process.stdout.readline()


@pytest.mark.parametrize(
    "signum",
    [
        pytest.param(signal.SIGINT, id="sigint"),
        pytest.param(signal.SIGTERM, id="sigterm"),
    ],
)
def test_emulate_prints_one_line_serves_and_exits_0_on_a_signal(signum: int) -> None:
    """``emulate`` prints only its JSON line, serves both APIs, and exits 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pointegration", "emulate", "--seed", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(_first_line(process))
        headers = {"authorization": f"Bearer {info['token']}"}
        tenant_env = f"{info['tenantId']}/{info['environment']}"
        with httpx.Client(headers=headers, timeout=10) as client:
            whoami = client.get(f"{info['dataverseUrl']}/api/data/v9.2/WhoAmI")
            companies = client.get(
                f"{info['bcBaseUrl']}/{tenant_env}/api/v2.0/companies"
            )
        process.send_signal(signum)
        rest, _ = process.communicate(timeout=STARTUP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert (whoami.status_code, companies.status_code) == (200, 200)
    assert (process.returncode, rest) == (0, "")
    assert sorted(info) == [
        "bcBaseUrl",
        "companyId",
        "dataverseUrl",
        "environment",
        "tenantId",
        "token",
    ]
    assert info["dataverseUrl"].startswith("http://127.0.0.1:")
    assert info["bcBaseUrl"].endswith("/v2.0")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pointegration emulate")
    emulate.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        pytest.param(
            ["--faults", "bc:GET=lost"],
            "fault rule 1 'bc:GET=lost'",
            id="bad-fault-spec",
        ),
        pytest.param(["--host", "0.0.0.0"], "loopback only", id="non-loopback-host"),  # noqa: S104
        pytest.param(
            ["--bc-port", "70000"], "--bc-port must be 0 to 65535", id="bad-port"
        ),
        pytest.param(
            ["--latency-ms", "-1"], "cannot be negative", id="negative-latency"
        ),
    ],
)
def test_bad_arguments_are_configuration_errors(argv: list[str], fragment: str) -> None:
    """A bad flag raises ConfigurationError (one line, exit 1 from the dispatcher)."""
    with pytest.raises(ConfigurationError) as caught:
        emulate.run(_parse(argv))

    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_fault_spec_exits_1_with_one_line_on_stderr() -> None:
    """``python -m pointegration emulate --faults BAD`` exits 1, one stderr line."""
    finished = subprocess.run(
        [sys.executable, "-m", "pointegration", "emulate", "--faults", "bc:*:*=boom"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT_S,
        check=False,
    )

    assert (finished.returncode, finished.stdout) == (1, "")
    assert "unknown fault 'boom'" in finished.stderr
    assert len(finished.stderr.strip().splitlines()) == 1


def test_help_documents_the_fault_grammar() -> None:
    """``emulate --help`` lists every flag and explains the fault spec."""
    parser = argparse.ArgumentParser(prog="pointegration emulate")
    emulate.add_arguments(parser)

    text = parser.format_help()

    for flag in ("--dataverse-port", "--bc-port", "--limits", "--latency-ms", "--seed"):
        assert flag in text
    assert "SERVICE:METHOD:PATH=FAULT" in text
    assert "lost[:P]" in text
