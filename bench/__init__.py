"""Benchmarks: run as modules (`python -m bench.ingest`), never by the test suite.

They print ratios measured in the same run and never fail on a time (STYLE.md, habit 11).
"""
