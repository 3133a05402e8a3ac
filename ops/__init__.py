"""Operator tooling: the `syncfarm` command and the run/test scripts."""
