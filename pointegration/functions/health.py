"""``GET /api/health`` (contract): is this app able to work?

Answers 200 when every check passes and 503 otherwise, with one entry per check.
It is anonymous so that a load balancer or an uptime probe can call it, and so it
reports names and states only: never a setting's value.

Limitation: for now the only check is the settings; the dependencies, queue depth,
poison count and last payment poll join it as those parts are built.
"""

from __future__ import annotations

import json

import azure.functions as func

# azure-functions leaves Blueprint.__init__ unannotated.
bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Report each check as ``{"name": {"ok": bool, "detail": str}}``."""
    checks = {"settings": _settings_check()}
    ok = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if ok else "unhealthy", "checks": checks}

    return func.HttpResponse(
        json.dumps(body),
        status_code=200 if ok else 503,
        mimetype="application/json",
    )


def _settings_check() -> dict[str, object]:
    from pointegration.errors import SettingsError
    from pointegration.settings import get_settings

    try:
        get_settings()
    except SettingsError as exc:
        # Names only: this route is anonymous, and a problem may quote a value.
        names = sorted({problem.split()[0] for problem in exc.problems})
        return {"ok": False, "detail": "invalid: " + ", ".join(names)}
    return {"ok": True, "detail": "valid"}
