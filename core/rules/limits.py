"""The caps a rule set must stay within, so that a saved rule set is cheap to run on every record
and its error messages stay short."""

from __future__ import annotations

MAX_RULES = 200
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 10_000
MAX_DEPTH = 8
"""Levels of nesting in one condition or one expression; a plain leaf counts as one level."""
MAX_OPERANDS = 20
"""Operands of one add/mul/min/max, and conditions in one all/any."""
MAX_LIST_ITEMS = 1_000
"""Values of an `in`/`not_in` list and entries of a `map`."""
MAX_FIELDS = 200
"""Field names in one drop/keep/rename/join."""
MAX_DECIMALS = 10
MAX_STORED_INT = 2**63 - 1
"""Whole numbers in rules must fit the database's 64-bit integers; larger ones go in as text."""
MAX_PROBLEMS = 50
"""Problems reported for one rule set; past this, the answer says how many were left out."""
