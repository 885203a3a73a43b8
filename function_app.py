"""The Azure Functions app: registers the blueprints of pointegration.functions.

Nothing else belongs here. Handlers import what they need when they run, so a cold
start costs little more than ``azure.functions`` itself.
"""

from __future__ import annotations

import azure.functions as func

from pointegration.functions.health import bp as health_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
