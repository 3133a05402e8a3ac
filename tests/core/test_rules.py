"""Export rules: what a merchant's rule set does to records, and what it refuses when saved."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import Invalid
from core.rules import RuleSet, chain, compile_rules, validate_rules

MARGIN_AND_CHARM = {
    "op": "set",
    "field": "price",
    "expr": {"add": [{"mul": [{"field": "price"}, 1.2]}, 0.5]},
    "round": {"ending": ".99"},
}


def run(rules: list[Any], record: dict[str, Any], *, key: str | None = None) -> dict | None:
    return compile_rules(rules, key=key).apply(record)


def price_after(rule: dict, price: Any) -> Any:
    result = run([rule], {"price": price})
    assert result is not None
    return result.get("price", "<absent>")


def refusal(rules: object, *, key: str | None = None) -> dict[str, list[str]]:
    with pytest.raises(Invalid) as caught:
        validate_rules(rules, key=key)
    assert caught.value.status == 422
    errors: dict[str, list[str]] = caught.value.errors["rules"]
    return errors


# --- set: constants, copies, arithmetic, rounding ---------------------------------------------


@pytest.mark.parametrize(
    ("price", "expected"),
    [("19.90", "24.99"), ("10.00", "12.99"), ("49.95", "60.99"), ("0.20", "0.99"), (100, "120.99")],
)
def test_the_margin_plus_fixed_example_rounds_to_a_99_ending(price: Any, expected: str) -> None:
    # 19.90 × 1.2 + 0.5 = 24.38, whose whole part 24 gets the ending .99
    assert price_after(MARGIN_AND_CHARM, price) == expected


def test_set_writes_a_constant_value() -> None:
    rule = {"op": "set", "field": "condition", "value": "new"}
    assert run([rule], {"sku": "A"}) == {"sku": "A", "condition": "new"}


def test_set_copies_another_field_and_leaves_the_field_absent_when_the_source_is_missing() -> None:
    rule = {"op": "set", "field": "sale_price", "from": "price"}
    assert run([rule], {"price": "9.90"}) == {"price": "9.90", "sale_price": "9.90"}
    assert run([rule], {"sale_price": "5"}) == {}


@pytest.mark.parametrize(
    ("expr", "record", "expected"),
    [
        ({"add": ["0.1", "0.2"]}, {}, "0.3"),
        ({"add": [{"field": "a"}, {"field": "b"}]}, {"a": 0.1, "b": 0.2}, "0.3"),
        ({"sub": [{"field": "a"}, "0.20"]}, {"a": "1.10"}, "0.90"),
        ({"mul": [{"field": "a"}, 3]}, {"a": "19.99"}, "59.97"),
        ({"div": [{"field": "a"}, 4]}, {"a": "10"}, "2.5"),
        ({"div": [10, 3]}, {}, "3.33333333333333333333"),
        ({"min": [{"field": "a"}, {"field": "b"}, 5]}, {"a": "7", "b": "6.5"}, "5"),
        ({"max": [{"field": "a"}, "4.99"]}, {"a": "3"}, "4.99"),
        ({"mul": [{"field": "a"}, 1.2]}, {"a": "19.90"}, "23.880"),
        ({"add": [{"field": "a"}, 1]}, {"a": " -2.5 "}, "-1.5"),
    ],
)
def test_expressions_calculate_in_decimal_and_write_exact_strings(
    expr: dict, record: dict, expected: str
) -> None:
    result = run([{"op": "set", "field": "out", "expr": expr}], record)
    assert result is not None
    assert result["out"] == expected


@pytest.mark.parametrize("price", ["", "abc", "19,90", "1e3", "19.90 EUR", None, True, "NaN", [1]])
def test_a_calculation_on_a_missing_or_non_numeric_field_leaves_the_field_absent(
    price: Any,
) -> None:
    assert price_after(MARGIN_AND_CHARM, price) == "<absent>"
    assert run([MARGIN_AND_CHARM], {"sku": "A"}) == {"sku": "A"}


def test_division_by_zero_leaves_the_field_absent_and_the_record_goes_on() -> None:
    rules = [
        {"op": "set", "field": "unit_price", "expr": {"div": [{"field": "price"}, {"field": "n"}]}},
        {"op": "set", "field": "seen", "value": True},
    ]
    result = run(rules, {"price": "10", "n": "0", "unit_price": "old"})
    assert result == {"price": "10", "n": "0", "seen": True}


@pytest.mark.parametrize(
    ("price", "decimals", "mode", "expected"),
    [
        ("24.385", 2, "half_up", "24.39"),
        ("24.384", 2, "half_up", "24.38"),
        ("24.381", 2, "up", "24.39"),
        ("24.389", 2, "down", "24.38"),
        ("-1.005", 2, "half_up", "-1.01"),
        ("2.5", 0, "half_up", "3"),
        ("19.9", 2, "half_up", "19.90"),
        ("-0.001", 2, "half_up", "0.00"),
    ],
)
def test_rounding_to_decimals_in_each_mode(
    price: str, decimals: int, mode: str, expected: str
) -> None:
    rule: dict[str, Any] = {"op": "set", "field": "price", "from": "price"}
    rule["round"] = {"decimals": decimals, "mode": mode}
    assert price_after(rule, price) == expected


@pytest.mark.parametrize(
    ("price", "ending", "mode", "expected"),
    [
        ("24.10", ".99", "keep_whole", "24.99"),
        ("24.995", ".99", "keep_whole", "24.99"),
        ("25.00", ".99", "keep_whole", "25.99"),
        ("9.20", ".95", "keep_whole", "9.95"),
        ("25.00", ".99", "down", "24.99"),
        ("24.99", ".99", "down", "24.99"),
        ("24.995", ".99", "up", "25.99"),
        ("24.10", ".99", "up", "24.99"),
        ("24.40", ".99", "half_up", "23.99"),
        ("24.49", ".99", "half_up", "24.99"),
        ("0.50", ".99", "down", "0.99"),
        ("-24.10", ".99", "keep_whole", "-24.99"),
    ],
)
def test_rounding_to_an_ending(price: str, ending: str, mode: str, expected: str) -> None:
    rule: dict[str, Any] = {"op": "set", "field": "price", "from": "price"}
    rule["round"] = {"ending": ending, "mode": mode}
    assert price_after(rule, price) == expected


def test_rounding_to_an_ending_keeps_the_whole_part_unless_a_mode_is_given() -> None:
    (rule,) = validate_rules([{"op": "set", "field": "p", "value": 1, "round": {"ending": ".99"}}])
    assert rule["round"] == {"ending": ".99", "mode": "keep_whole"}


@given(st.decimals(min_value=Decimal("0.99"), max_value=Decimal(10**9), places=3))
@settings(max_examples=150)
def test_every_ending_mode_gives_a_price_with_that_ending_on_its_side_of_the_amount(
    amount: Decimal,
) -> None:
    def rounded(mode: str) -> Decimal:
        rule = {"op": "set", "field": "p", "from": "p", "round": {"ending": ".99", "mode": mode}}
        result = run([rule], {"p": str(amount)})
        assert result is not None and result["p"].endswith(".99")
        return Decimal(result["p"])

    assert rounded("down") <= amount <= rounded("up")
    assert rounded("up") - rounded("down") in (0, 1)
    assert int(rounded("keep_whole")) == int(amount)
    assert rounded("half_up") in (rounded("down"), rounded("up"))


def test_set_with_round_rounds_constants_and_copies_too() -> None:
    rules = [
        {"op": "set", "field": "a", "value": 3.14159, "round": {"decimals": 2}},
        {"op": "set", "field": "b", "from": "raw", "round": {"decimals": 1, "mode": "up"}},
    ]
    assert run(rules, {"raw": "0.01"}) == {"raw": "0.01", "a": "3.14", "b": "0.1"}


def test_set_with_where_changes_only_the_matching_records() -> None:
    rule = {
        "op": "set",
        "field": "price",
        "expr": {"mul": [{"field": "price"}, "0.9"]},
        "round": {"decimals": 2},
        "where": {"field": "brand", "eq": "Acme"},
    }
    assert run([rule], {"brand": "Acme", "price": "10"}) == {"brand": "Acme", "price": "9.00"}
    assert run([rule], {"brand": "Other", "price": "10"}) == {"brand": "Other", "price": "10"}


# --- filter: every operator and the combinators ----------------------------------------------


@pytest.mark.parametrize(
    ("condition", "record", "kept"),
    [
        ({"field": "stock", "eq": 0}, {"stock": "0.00"}, True),
        ({"field": "stock", "eq": 0}, {"stock": "none"}, False),
        ({"field": "sku", "eq": "00123"}, {"sku": "123"}, False),
        ({"field": "sku", "eq": "00123"}, {"sku": "00123"}, True),
        ({"field": "active", "eq": True}, {"active": True}, True),
        ({"field": "active", "eq": True}, {"active": "true"}, True),
        ({"field": "stock", "ne": 0}, {"stock": "3"}, True),
        ({"field": "stock", "ne": 0}, {}, True),
        ({"field": "stock", "gt": 0}, {"stock": "3"}, True),
        ({"field": "stock", "gt": 0}, {"stock": "0"}, False),
        ({"field": "stock", "gt": "9"}, {"stock": "10"}, True),
        ({"field": "stock", "gt": 0}, {"stock": ""}, False),
        ({"field": "stock", "gt": 0}, {}, False),
        ({"field": "stock", "gt": 0}, {"stock": "many"}, False),
        ({"field": "stock", "gte": 3}, {"stock": 3}, True),
        ({"field": "price", "lt": "10"}, {"price": "9.99"}, True),
        ({"field": "price", "lte": 9.99}, {"price": "9.990"}, True),
        ({"field": "price", "lte": 9.99}, {"price": "10"}, False),
        ({"field": "date", "gte": "2024-05-01"}, {"date": "2024-06-30"}, True),
        ({"field": "date", "lt": "2024-05-01"}, {"date": ""}, False),
        ({"field": "color", "in": ["red", "blue", 7]}, {"color": "blue"}, True),
        ({"field": "size", "in": ["red", 7]}, {"size": "7.0"}, True),
        ({"field": "color", "in": ["red"]}, {"color": "Red"}, False),
        ({"field": "color", "not_in": ["red"]}, {"color": "green"}, True),
        ({"field": "color", "not_in": ["red"]}, {}, True),
        ({"field": "ean", "exists": True}, {"ean": ""}, True),
        ({"field": "ean", "exists": True}, {"ean": None}, False),
        ({"field": "ean", "exists": False}, {}, True),
        ({"field": "ean", "empty": True}, {"ean": "  "}, True),
        ({"field": "ean", "empty": True}, {}, True),
        ({"field": "ean", "empty": False}, {"ean": "400638"}, True),
        ({"field": "title", "contains": "Shirt"}, {"title": "Blue Shirt XL"}, True),
        ({"field": "title", "contains": "shirt"}, {"title": "Blue Shirt XL"}, False),
        ({"field": "title", "contains": "a"}, {}, False),
        ({"field": "sku", "starts_with": "DE-"}, {"sku": "DE-1"}, True),
        ({"field": "sku", "starts_with": "DE-"}, {"sku": "AT-1"}, False),
        ({"field": "url", "ends_with": ".jpg"}, {"url": "a/b.jpg"}, True),
        ({"field": "n", "contains": "12"}, {"n": 3120}, True),
    ],
)
def test_filter_keeps_only_records_matching_its_condition(
    condition: dict, record: dict, kept: bool
) -> None:
    result = run([{"op": "filter", "where": condition}], record)
    assert (result == record) if kept else (result is None)


@pytest.mark.parametrize(
    ("record", "kept"),
    [
        ({"stock": "3", "brand": "Acme", "title": "x"}, True),
        ({"stock": "0", "brand": "Acme", "title": "x"}, False),
        ({"stock": "3", "brand": "Other", "title": "x"}, False),
        ({"stock": "3", "brand": "Other", "title": "x", "featured": "yes"}, True),
        ({"stock": "3", "brand": "Acme", "title": "DISCONTINUED x"}, False),
    ],
)
def test_filter_combines_conditions_with_all_any_and_not(record: dict, kept: bool) -> None:
    where = {
        "all": [
            {"field": "stock", "gt": 0},
            {"any": [{"field": "brand", "eq": "Acme"}, {"field": "featured", "exists": True}]},
            {"not": {"field": "title", "starts_with": "DISCONTINUED"}},
        ]
    }
    assert (run([{"op": "filter", "where": where}], record) is not None) is kept


def test_rules_after_a_filter_do_not_run_on_the_records_it_drops() -> None:
    rules = compile_rules(
        [{"op": "filter", "where": {"field": "stock", "gt": 0}}, {"op": "drop", "fields": ["x"]}]
    )
    records = [{"sku": "A", "stock": "1", "x": 1}, {"sku": "B", "stock": "0", "x": 1}]
    assert list(rules.apply_all(records)) == [{"sku": "A", "stock": "1"}]


# --- map, rename, drop, keep, join ------------------------------------------------------------

AVAILABILITY = {"in stock": "available", "out of stock": "sold_out"}


def test_map_translates_values_and_keeps_unmatched_ones_by_default() -> None:
    rule = {"op": "map", "field": "availability", "values": AVAILABILITY}
    assert run([rule], {"availability": "in stock"}) == {"availability": "available"}
    assert run([rule], {"availability": "preorder"}) == {"availability": "preorder"}
    assert run([rule], {"sku": "A"}) == {"sku": "A"}


def test_map_with_a_default_replaces_every_unmatched_value() -> None:
    rule = {"op": "map", "field": "availability", "values": AVAILABILITY, "default": "sold_out"}
    assert run([rule], {"availability": "preorder"}) == {"availability": "sold_out"}
    assert run([rule], {}) == {"availability": "sold_out"}


def test_map_can_ignore_case() -> None:
    rule = {"op": "map", "field": "availability", "values": AVAILABILITY}
    assert run([rule], {"availability": "In Stock"}) == {"availability": "In Stock"}
    insensitive = {**rule, "case_insensitive": True}
    assert run([insensitive], {"availability": "In Stock"}) == {"availability": "available"}


def test_map_looks_up_numbers_by_their_text_and_missing_fields_as_empty_text() -> None:
    rule = {"op": "map", "field": "stock", "values": {"0": "sold_out", "": "unknown"}}
    assert run([rule], {"stock": 0}) == {"stock": "sold_out"}
    assert run([rule], {}) == {"stock": "unknown"}


def test_rename_moves_a_value_to_a_new_name() -> None:
    rule = {"op": "rename", "from": "g:gtin", "to": "ean"}
    assert run([rule], {"g:gtin": "4006381333931"}) == {"ean": "4006381333931"}
    assert run([rule], {"ean": "kept"}) == {"ean": "kept"}


def test_rename_with_a_mapping_renames_all_at_once_so_fields_can_swap() -> None:
    rule = {"op": "rename", "fields": {"a": "b", "b": "a", "c": "d"}}
    assert run([rule], {"a": 1, "b": 2, "c": 3}) == {"a": 2, "b": 1, "d": 3}


def test_drop_removes_fields_and_keep_removes_all_others() -> None:
    record = {"sku": "A", "title": "T", "price": "1", "cost": "0.5"}
    assert run([{"op": "drop", "fields": ["cost", "nope"]}], record) == {
        "sku": "A",
        "title": "T",
        "price": "1",
    }
    assert run([{"op": "keep", "fields": ["title", "price"]}], record) == {
        "title": "T",
        "price": "1",
    }


def test_keep_always_keeps_the_key_field() -> None:
    rule = {"op": "keep", "fields": ["title"]}
    assert run([rule], {"sku": "A", "title": "T", "x": 1}, key="sku") == {"sku": "A", "title": "T"}


def test_join_puts_fields_together_with_a_separator_and_skips_empty_ones() -> None:
    rule = {"op": "join", "field": "title", "from": ["brand", "title", "size"], "separator": " - "}
    assert run([rule], {"brand": "Acme", "title": "Shirt", "size": 42}) == {
        "brand": "Acme",
        "title": "Acme - Shirt - 42",
        "size": 42,
    }
    assert run([rule], {"brand": "", "title": "Shirt"}) == {"brand": "", "title": "Shirt"}
    assert run([rule], {"title": " "}) == {}


def test_join_without_skipping_empty_values_keeps_their_places() -> None:
    rule: dict[str, Any] = {"op": "join", "field": "path", "from": ["a", "b", "c"]}
    rule.update(separator="/", skip_empty=False)
    assert run([rule], {"a": "x", "c": "z"}) == {"a": "x", "c": "z", "path": "x//z"}


@pytest.mark.parametrize(
    "rule",
    [
        {"op": "set", "field": "a", "value": "changed"},
        {"op": "map", "field": "a", "values": {"1": "changed"}},
        {"op": "rename", "from": "a", "to": "b"},
        {"op": "drop", "fields": ["a"]},
        {"op": "keep", "fields": ["sku"]},
        {"op": "join", "field": "a", "from": ["sku", "a"]},
    ],
)
def test_every_rule_but_filter_can_be_limited_to_records_matching_where(rule: dict) -> None:
    limited = compile_rules([{**rule, "where": {"field": "sku", "eq": "yes"}}])
    assert limited.apply({"sku": "no", "a": "1"}) == {"sku": "no", "a": "1"}
    assert limited.apply({"sku": "yes", "a": "1"}) != {"sku": "yes", "a": "1"}


def test_user_text_is_never_treated_as_a_format_string_or_pattern() -> None:
    rules = [
        {"op": "join", "field": "t", "from": ["a", "b"], "separator": "{0}%s"},
        {"op": "filter", "where": {"field": "t", "contains": "{0}%s"}},
        {"op": "filter", "where": {"field": "b", "starts_with": "(a+)+$"}},
    ]
    assert run(rules, {"a": "{__class__}", "b": "(a+)+$"}) == {
        "a": "{__class__}",
        "b": "(a+)+$",
        "t": "{__class__}{0}%s(a+)+$",
    }


# --- the key, chains, streaming, inputs -------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "where"),
    [
        ({"op": "set", "field": "sku", "value": "X"}, "0.field"),
        ({"op": "map", "field": "sku", "values": {"a": "b"}}, "0.field"),
        ({"op": "join", "field": "sku", "from": ["a"]}, "0.field"),
        ({"op": "rename", "from": "sku", "to": "id"}, "0.from"),
        ({"op": "rename", "fields": {"id": "sku"}}, "0.fields.id"),
        ({"op": "drop", "fields": ["a", "sku"]}, "0.fields.1"),
    ],
)
def test_rules_cannot_change_the_key_field_when_the_key_is_known(rule: dict, where: str) -> None:
    assert validate_rules([rule]) == validate_rules([rule])
    errors = refusal([rule], key="sku")
    assert list(errors) == [where]
    assert "'sku': that is the key field" in errors[where][0]
    with pytest.raises(Invalid):
        compile_rules([rule], key="sku")


def test_chained_rule_sets_run_project_rules_before_channel_rules() -> None:
    project = compile_rules(
        [{"op": "set", "field": "price", "expr": {"mul": [{"field": "price"}, 2]}}]
    )
    channel = compile_rules(
        [{"op": "set", "field": "price", "expr": {"add": [{"field": "price"}, 1]}}]
    )
    assert chain(project, channel).apply({"price": "10"}) == {"price": "21"}
    assert chain(channel, project).apply({"price": "10"}) == {"price": "22"}
    assert len(chain(project, channel)) == 2
    assert chain().apply({"a": 1}) == {"a": 1}
    assert chain(RuleSet(), compile_rules([])).apply({"a": 1}) == {"a": 1}


def test_a_project_filter_drops_records_before_channel_rules_see_them() -> None:
    project = compile_rules([{"op": "filter", "where": {"field": "stock", "gt": 0}}])
    channel = compile_rules([{"op": "rename", "from": "stock", "to": "quantity"}])
    records = [{"stock": "2"}, {"stock": "0"}]
    assert list(chain(project, channel).apply_all(records)) == [{"quantity": "2"}]


def test_apply_all_streams_records_one_at_a_time() -> None:
    pulled: list[int] = []

    def endless() -> Iterator[dict]:
        for number in itertools.count():
            pulled.append(number)
            yield {"n": number}

    rules = compile_rules([{"op": "filter", "where": {"field": "n", "gt": 1}}])
    assert list(itertools.islice(rules.apply_all(endless()), 2)) == [{"n": 2}, {"n": 3}]
    assert pulled == [0, 1, 2, 3]


EVERY_KIND = [
    {"op": "set", "field": "price", "expr": {"mul": [{"field": "price"}, 2]}},
    {"op": "set", "field": "new", "from": "title"},
    {"op": "map", "field": "availability", "values": AVAILABILITY, "default": "x"},
    {"op": "rename", "fields": {"title": "name", "images": "pictures"}},
    {"op": "join", "field": "name", "from": ["brand", "name"]},
    {"op": "drop", "fields": ["brand"]},
    {"op": "keep", "fields": ["price", "name", "availability", "pictures", "new"]},
    {"op": "filter", "where": {"field": "price", "gt": 0}},
]


def test_applying_rules_never_changes_the_input_record() -> None:
    record = {
        "sku": "A",
        "price": "5",
        "title": "T",
        "brand": "B",
        "availability": "in stock",
        "images": ["a.jpg"],
    }
    before = copy.deepcopy(record)
    result = run(EVERY_KIND, record, key="sku")
    assert record == before
    assert result == {
        "sku": "A",
        "price": "10",
        "name": "B T",
        "availability": "available",
        "pictures": ["a.jpg"],
        "new": "T",
    }


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "where", "message"),
    [
        ([{"op": "explode"}], "0.op", "rules[0].op must be one of filter, set, map"),
        ([{"field": "a"}], "0.op", "rules[0].op is required"),
        ([{"op": "set", "value": 1}], "0.field", "rules[0].field is required"),
        ([{"op": "filter"}], "0.where", "rules[0].where is required"),
        ([{"op": "set", "field": "", "value": 1}], "0.field", "rules[0].field must be a field"),
        ([{"op": "set", "field": 5, "value": 1}], "0.field", "rules[0].field must be a field"),
        ([{"op": "set", "field": "a"}], "0", "rules[0] must have exactly one of value, from"),
        (
            [{"op": "drop", "fields": ["a"]}, {"op": "set", "field": "p", "value": 1, "rnd": 2}],
            "1.rnd",
            "rules[1].rnd is not a setting of a set rule (op, field, value, from, expr, round",
        ),
        (
            [{"op": "filter", "where": {"field": "a", "like": "x%"}}],
            "0.where.like",
            "rules[0].where.like is not an operator: use one of eq, ne, gt",
        ),
        (
            [{"op": "filter", "where": {"field": "a"}}],
            "0.where",
            "rules[0].where needs an operator",
        ),
        (
            [{"op": "filter", "where": {"and": []}}],
            "0.where.and",
            "rules[0].where.and is not part of a condition",
        ),
        (
            [{"op": "filter", "where": {"all": [{"field": "a", "gt": True}]}}],
            "0.where.all.0.gt",
            "rules[0].where.all[0].gt must be a number or a text, got True",
        ),
        (
            [{"op": "filter", "where": {"any": []}}],
            "0.where.any",
            "rules[0].where.any must be a list of 1 to 20 conditions, got 0 conditions",
        ),
        (
            [{"op": "filter", "where": {"field": "a", "in": "red"}}],
            "0.where.in",
            "rules[0].where.in must be a list of 1 to 1000 values, got 'red'",
        ),
        (
            [{"op": "filter", "where": {"field": "a", "exists": "yes"}}],
            "0.where.exists",
            "rules[0].where.exists must be true or false",
        ),
        (
            [{"op": "set", "field": "p", "value": 1, "round": {"decimals": 2, "mode": "even"}}],
            "0.round.mode",
            "rules[0].round.mode must be one of half_up, down, up with decimals, got 'even'",
        ),
        (
            [{"op": "set", "field": "p", "value": 1, "round": "nearest"}],
            "0.round",
            "rules[0].round must be an object with decimals or ending",
        ),
        (
            [{"op": "set", "field": "p", "value": 1, "round": {"ending": "99"}}],
            "0.round.ending",
            'rules[0].round.ending must be a "." and 1 to 4 digits',
        ),
        (
            [{"op": "set", "field": "p", "value": 1, "round": {"decimals": 11}}],
            "0.round.decimals",
            "rules[0].round.decimals must be a whole number from 0 to 10, got 11",
        ),
        (
            [{"op": "set", "field": "p", "value": "cheap", "round": {"decimals": 2}}],
            "0.value",
            "rules[0].value must be a number when the rule has round",
        ),
        (
            [{"op": "set", "field": "p", "expr": {"pow": [2, 3]}}],
            "0.expr.pow",
            "rules[0].expr.pow is not an operation",
        ),
        (
            [{"op": "set", "field": "p", "expr": {"div": [1, 2, 3]}}],
            "0.expr.div",
            "rules[0].expr.div must be a list of 2 expressions, got 3",
        ),
        (
            [{"op": "set", "field": "p", "expr": {"add": [1, "x"]}}],
            "0.expr.add.1",
            "rules[0].expr.add[1] must be a number",
        ),
        (
            [{"op": "set", "field": "p", "value": float("inf")}],
            "0.value",
            "rules[0].value must be a finite number",
        ),
        (
            [{"op": "set", "field": "p", "expr": {"mul": [{"field": "p"}, 10**20]}}],
            "0.expr.mul.1",
            "rules[0].expr.mul[1] must fit in 64 bits (up to 9223372036854775807); write a larger",
        ),
        (
            [{"op": "set", "field": "p", "value": None}],
            "0.value",
            "rules[0].value must be a text, a number or true/false, got None",
        ),
        (
            [{"op": "map", "field": "a", "values": ["x"]}],
            "0.values",
            "rules[0].values must be an object of 1 to 1000 entries",
        ),
        (
            [{"op": "map", "field": "a", "values": {"A": 1, "a": 2}, "case_insensitive": True}],
            "0.values.a",
            "rules[0].values.a clashes with 'A'",
        ),
        (
            [{"op": "rename", "from": "a"}],
            "0.to",
            "rules[0].to must be a field name",
        ),
        (
            [{"op": "rename", "fields": {"a": "c", "b": "c"}}],
            "0.fields.b",
            "rules[0].fields.b renames to 'c' like 'a' does",
        ),
        (
            [{"op": "rename", "from": "a", "to": "a"}],
            "0.to",
            "rules[0].to must differ from the field it renames",
        ),
        ([{"op": "keep", "fields": "title"}], "0.fields", "rules[0].fields must be a list"),
        (
            [{"op": "join", "field": "t", "from": ["a"], "separator": 1}],
            "0.separator",
            "rules[0].separator must be a text",
        ),
        (
            [{"op": "drop", "fields": ["x" * 201]}],
            "0.fields.0",
            "rules[0].fields[0] must be a field name of 1 to 200",
        ),
        (
            [{"op": "set", "field": "t", "value": "x" * 10_001}],
            "0.value",
            "rules[0].value must be a text of 0 to 10000 characters",
        ),
        (["filter"], "0", "rules[0] must be a rule object with an op"),
        ({"op": "filter"}, "_schema", "rules must be a list of rules"),
        ([{"op": "drop", "fields": ["a"]}] * 201, "_schema", "rules must have at most 200 rules"),
    ],
)
def test_validation_names_the_rule_and_the_setting_that_is_wrong(
    rules: object, where: str, message: str
) -> None:
    errors = refusal(rules)
    assert list(errors) == [where]
    assert errors[where][0].startswith(message)


def test_refusals_quote_huge_or_deeply_nested_values_briefly() -> None:
    deep: list = []
    for _ in range(5_000):
        deep = [deep]
    errors = refusal([{"op": "set", "field": "a", "value": deep}, "x" * 100_000])
    assert all(len(texts[0]) < 150 for texts in errors.values())


def nested_not(levels: int) -> dict:
    condition: dict = {"field": "a", "exists": True}
    for _ in range(levels - 1):
        condition = {"not": condition}
    return condition


def nested_add(levels: int) -> Any:
    expression: Any = {"field": "a"}
    for _ in range(levels - 1):
        expression = {"add": [expression, 1]}
    return expression


def test_conditions_and_expressions_nest_at_most_eight_levels() -> None:
    validate_rules([{"op": "filter", "where": nested_not(8)}])
    validate_rules([{"op": "set", "field": "a", "expr": nested_add(8)}])
    too_deep = refusal([{"op": "filter", "where": nested_not(9)}])
    assert list(too_deep) == ["0.where" + ".not" * 8]
    assert "nests conditions more than 8 levels deep" in too_deep["0.where" + ".not" * 8][0]
    expr_errors = refusal([{"op": "set", "field": "a", "expr": nested_add(9)}])
    assert "nests expressions more than 8 levels deep" in next(iter(expr_errors.values()))[0]


def test_one_answer_lists_every_problem_and_the_message_joins_them() -> None:
    rules = [
        {"op": "set", "field": "p", "value": 1, "round": {"decimals": 2, "mode": "even"}},
        {"op": "nope"},
        {"op": "filter", "where": {"field": "a", "gt": 1, "lt": 2}},
    ]
    with pytest.raises(Invalid) as caught:
        validate_rules(rules)
    assert set(caught.value.errors["rules"]) == {"0.round.mode", "1.op", "2.where"}
    assert caught.value.message.startswith("rules[0].round.mode must be one of half_up")
    assert "; rules[1].op must be one of" in caught.value.message


def test_validation_names_the_path_it_is_given() -> None:
    with pytest.raises(Invalid) as caught:
        validate_rules([{"op": "x"}], path="channel_rules")
    assert caught.value.errors == {
        "channel_rules": {
            "0.op": [
                "channel_rules[0].op must be one of filter, set, map, rename, drop, keep, join, "
                "got 'x'"
            ]
        }
    }


def test_validation_gives_a_normalized_copy_that_checks_to_itself() -> None:
    rules = [
        {"op": "rename", "from": "a", "to": "b"},
        {"op": "map", "field": "a", "values": {"x": "y"}},
        {"op": "join", "field": "t", "from": ["a", "b"]},
        {"op": "drop", "fields": ["a", "a", "c"]},
        {"op": "set", "field": "p", "from": "p", "round": {"decimals": 2}},
    ]
    original = copy.deepcopy(rules)
    normalized = validate_rules(rules)
    assert rules == original
    assert normalized == [
        {"op": "rename", "fields": {"a": "b"}},
        {
            "op": "map",
            "field": "a",
            "values": {"x": "y"},
            "default": "keep",
            "case_insensitive": False,
        },
        {"op": "join", "field": "t", "from": ["a", "b"], "separator": " ", "skip_empty": True},
        {"op": "drop", "fields": ["a", "c"]},
        {"op": "set", "field": "p", "from": "p", "round": {"decimals": 2, "mode": "half_up"}},
    ]
    assert validate_rules(normalized) == normalized
    assert validate_rules([]) == []


def test_compile_rules_refuses_unchecked_rules_with_the_same_answer_as_validation() -> None:
    with pytest.raises(Invalid) as caught:
        compile_rules([{"op": "set", "field": "p"}])
    assert list(caught.value.errors["rules"]) == ["0"]


# --- properties --------------------------------------------------------------------------------

NAMES = st.sampled_from(["sku", "price", "stock", "title", "brand", "ean", "g:gtin"])
TEXTS = st.text(max_size=12)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
)
DECIMAL_TEXTS = st.decimals(min_value=-(10**6), max_value=10**6, places=3).map(str)
SCALARS = st.one_of(TEXTS, NUMBERS, st.booleans(), DECIMAL_TEXTS)
RECORD_VALUES = st.one_of(
    st.none(),
    st.text(max_size=30),
    DECIMAL_TEXTS,
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
RECORDS = st.dictionaries(NAMES, RECORD_VALUES, max_size=7)


def conditions(depth: int) -> st.SearchStrategy[dict]:
    leaf = st.one_of(
        st.builds(
            lambda field, op, value: {"field": field, op: value},
            NAMES,
            st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
            st.one_of(TEXTS, NUMBERS),
        ),
        st.builds(
            lambda field, op, values: {"field": field, op: values},
            NAMES,
            st.sampled_from(["in", "not_in"]),
            st.lists(SCALARS, min_size=1, max_size=3),
        ),
        st.builds(
            lambda field, op, flag: {"field": field, op: flag},
            NAMES,
            st.sampled_from(["exists", "empty"]),
            st.booleans(),
        ),
        st.builds(
            lambda field, op, text: {"field": field, op: text},
            NAMES,
            st.sampled_from(["contains", "starts_with", "ends_with"]),
            st.text(min_size=1, max_size=5),
        ),
    )
    if depth == 1:
        return leaf
    inner = conditions(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda items: {"all": items}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda items: {"any": items}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda item: {"not": item}, inner),
    )


def expressions(depth: int) -> st.SearchStrategy[Any]:
    leaf = st.one_of(NUMBERS, DECIMAL_TEXTS, st.builds(lambda f: {"field": f}, NAMES))
    if depth == 1:
        return leaf
    inner = expressions(depth - 1)
    return st.one_of(
        leaf,
        st.builds(
            lambda op, items: {op: items},
            st.sampled_from(["add", "mul", "min", "max"]),
            st.lists(inner, min_size=2, max_size=3),
        ),
        st.builds(lambda op, a, b: {op: [a, b]}, st.sampled_from(["sub", "div"]), inner, inner),
    )


ROUNDS = st.one_of(
    st.builds(
        lambda n, mode: {"decimals": n, "mode": mode},
        st.integers(0, 10),
        st.sampled_from(["half_up", "down", "up"]),
    ),
    st.builds(
        lambda ending, mode: {"ending": ending, "mode": mode},
        st.sampled_from([".99", ".95", ".0", ".9999"]),
        st.sampled_from(["keep_whole", "half_up", "down", "up"]),
    ),
)


def with_options(rule: dict, where: dict | None) -> dict:
    return rule if where is None else {**rule, "where": where}


WHERES = st.one_of(st.none(), conditions(3))
RULES = st.one_of(
    st.builds(lambda c: {"op": "filter", "where": c}, conditions(4)),
    st.builds(
        lambda f, e, r, w: with_options(
            {"op": "set", "field": f, "expr": e, **({"round": r} if r else {})}, w
        ),
        NAMES,
        expressions(4),
        st.one_of(st.none(), ROUNDS),
        WHERES,
    ),
    st.builds(lambda f, v: {"op": "set", "field": f, "value": v}, NAMES, SCALARS),
    st.builds(lambda f, s: {"op": "set", "field": f, "from": s}, NAMES, NAMES),
    st.builds(
        lambda f, s, r: {"op": "set", "field": f, "from": s, "round": r}, NAMES, NAMES, ROUNDS
    ),
    st.builds(
        lambda f, values, default, ci: {
            "op": "map",
            "field": f,
            "values": values,
            "default": default,
            "case_insensitive": ci,
        },
        NAMES,
        st.dictionaries(TEXTS, SCALARS, min_size=1, max_size=3),
        st.one_of(st.just("keep"), SCALARS),
        st.just(False),
    ),
    st.builds(
        lambda pairs, w: with_options({"op": "rename", "fields": pairs}, w),
        st.dictionaries(NAMES, NAMES, min_size=1, max_size=2).filter(
            lambda pairs: (
                all(a != b for a, b in pairs.items()) and len(set(pairs.values())) == len(pairs)
            )
        ),
        WHERES,
    ),
    st.builds(lambda names: {"op": "drop", "fields": names}, st.lists(NAMES, min_size=1)),
    st.builds(lambda names: {"op": "keep", "fields": names}, st.lists(NAMES, min_size=1)),
    st.builds(
        lambda f, names, sep, skip: {
            "op": "join",
            "field": f,
            "from": names,
            "separator": sep,
            "skip_empty": skip,
        },
        NAMES,
        st.lists(NAMES, min_size=1, max_size=3),
        TEXTS,
        st.booleans(),
    ),
)


@given(st.lists(RULES, max_size=6), st.lists(RECORDS, max_size=4))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_validated_random_rule_set_never_raises_on_any_record(
    rules: list[dict], records: list[dict]
) -> None:
    normalized = validate_rules(rules)
    assert validate_rules(normalized) == normalized
    rule_set = compile_rules(normalized)
    before = copy.deepcopy(records)
    for record in records:
        result = rule_set.apply(record)
        assert result is None or (isinstance(result, dict) and result is not record)
    assert records == before


GRAMMAR_WORDS = st.sampled_from(
    [
        "op",
        "field",
        "where",
        "value",
        "from",
        "to",
        "expr",
        "round",
        "values",
        "fields",
        "all",
        "any",
        "not",
        "gt",
        "in",
        "exists",
        "add",
        "div",
        "decimals",
        "ending",
        "mode",
        "default",
        "filter",
        "set",
        "map",
        "rename",
        "drop",
        "keep",
        "join",
    ]
)
JSON = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), GRAMMAR_WORDS
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(GRAMMAR_WORDS, inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.lists(st.dictionaries(GRAMMAR_WORDS, JSON, max_size=5), max_size=3) | JSON)
@settings(max_examples=300, deadline=None)
def test_validating_arbitrary_json_either_accepts_it_or_raises_invalid(data: Any) -> None:
    try:
        validate_rules(data)
    except Invalid as error:
        assert error.message and error.errors["rules"]
