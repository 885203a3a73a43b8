"""The contracts of DESIGN.md as the tests state them, independently of the code."""

from __future__ import annotations

# DESIGN §3.3: the settings users and scripts rely on, by their exact names.
CONTRACT_SETTINGS = (
    "DATAVERSE_URL",
    "BC_BASE_URL",
    "BC_TENANT_ID",
    "BC_ENVIRONMENT",
    "BC_COMPANY_ID",
    "BC_POSTCODES_API",
    "AUTH_MODE",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AUTH_STATIC_TOKEN",
    "AzureWebJobsStorage",
    "SYNC_QUEUE",
    "PAYMENT_POLL_SCHEDULE",
    "SYNC_INVOICE_ON_CONFIRM",
    "BC_POST_INVOICES",
    "BC_LINE_MAPPING",
)

# Settable beyond the contract (issue 2: concurrency caps, the HTTP timeout).
EXTRA_SETTINGS = (
    "BC_MAX_CONCURRENCY",
    "DATAVERSE_MAX_CONCURRENCY",
    "HTTP_TIMEOUT_SECONDS",
)
