"""Verification reports: a terminal summary (``text``), JSON (``VerifyResult.to_json``) and a
self-contained HTML page (``html``)."""
