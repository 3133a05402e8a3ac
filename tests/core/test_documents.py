from __future__ import annotations

from core.documents import ProjectDocuments
from core.store import Store


def test_an_order_read_twice_is_stored_once_and_its_marks_survive_a_new_read(
    store: Store,
) -> None:
    orders = ProjectDocuments(store, "prj_1", "orders")
    assert orders.upsert_many([("1001", {"total": "10.00"}), ("1002", {"total": "5.00"})]) == {
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
    }
    orders.mark("1001", delivered_to="con_wh")
    assert [d["key"] for d in orders.without_mark("delivered_to")] == ["1002"]
    again = orders.upsert_many([("1001", {"total": "12.00"}), ("1002", {"total": "5.00"})])
    assert again == {"inserted": 0, "updated": 1, "unchanged": 1}
    assert orders.count() == 2
    stored = orders.get("1001") or {}
    assert stored["data"] == {"total": "12.00"} and stored["marks"] == {"delivered_to": "con_wh"}
    assert ProjectDocuments(store, "prj_2", "orders").count() == 0
