"""Verification: replay a workload under its sandbox and judge what it needed.

``replay`` runs the workload (enforce or complain mode) and builds the result, ``judge``
compares what the replay did with what the sandbox allows, ``fix`` widens a sandbox by what a
replay needed, ``drift`` is the CI check of a committed sandbox, and ``report_text`` /
``report_html`` render a result for a terminal or a browser.
"""
