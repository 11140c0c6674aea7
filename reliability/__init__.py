"""Reliability checks of ``splitinfer serve``: load, faults, hostile input, access.

Each module is a library the quick tests (``tests/reliability``) call with small counts
and a command (``python -m reliability.<module> --help``) that runs the full version;
``make reliability`` runs them all and writes ``reports/reliability/*.json``. See
docs/reliability.md for the figures and what each check proves.
"""
