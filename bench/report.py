"""The ingest benchmark's printed report: tables of what each step measured, then targets.

Per-record writes are those to `records`, `record_index`, `changes` and `issues`, which should
follow the number of changed records; the rest (`runs` progress and stages, `projects` commit
marks, …) is bookkeeping, a few documents per run plus progress every 1,000–5,000 records.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.ingest import Step

PER_RECORD = ("records", "record_index", "changes", "issues")
STEADY = "2 % changed"
#: a load average before the benchmark at least this high means other work shared the CPUs
BUSY_LOAD = 1.0
#: per-record documents written per changed record, at most: the record, its change (update
#: and acknowledgement) for the one channel, its issue cleared, and a share of the index buckets
PROPORTIONAL_LIMIT = 5.0
#: per-record documents written by a run that changed nothing, at most: a constant such as
#: clearing the source's whole-feed issue, never a number that grows with the catalog
CONSTANT_LIMIT = 10


def print_report(
    steps: Sequence[Step],
    *,
    records: int,
    store: str,
    load: tuple[float, float],
    target_ratio: dict[str, float],
    target_rss_mb: float,
) -> None:
    bare = {s.format: s.result for s in steps if s.name == "bare parse" and "wall_s" in s.result}
    methods = {
        ("runs" if s.changed is not None else "bare parse"): s.result["rss_method"]
        for s in steps
        if "rss_method" in s.result
    }
    print(
        f"\n# Ingest benchmark: {records:,} records, store {store}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    shown = "; ".join(f"{kind}: {method}" for kind, method in methods.items())
    print(f"peak RSS of the process running the step ({shown or '-'}); db: the nx-27017 server")
    sizes = ", ".join(
        f"{fmt} {r['bytes'] / 1e6:,.0f} MB" for fmt, r in bare.items() if "bytes" in r
    )
    if sizes:
        print(
            f"feeds: {sizes}; ÷ bare: records/s of the step ÷ records/s of the bare parse "
            "(best of 3)"
        )
    busy = load[0] >= BUSY_LOAD
    print(
        f"1-minute load average: {load[0]:.2f} before the benchmark, {load[1]:.2f} at its end"
        + (" — the machine was busy before it started: timings are noisy" if busy else "")
    )
    _print_steps(steps, records, bare)
    _print_stages(steps, records, bare)
    _print_writes(steps)
    _print_targets(steps, records, bare, target_ratio, target_rss_mb)


def _speed(result: dict[str, Any], records: int) -> float | None:
    wall = result.get("wall_s")
    return (result.get("records", records) / wall) if wall else None


def _per_record_docs(result: dict[str, Any]) -> int:
    written = (result.get("traffic") or {}).get("written") or {}
    return sum(written.get(name, 0) for name in PER_RECORD)


def _print_steps(steps: Sequence[Step], records: int, bare: dict[str, dict[str, Any]]) -> None:
    rows = []
    for step in steps:
        r = step.result
        if "wall_s" not in r:
            rows.append([step.format, step.name, str(r.get("state")), r.get("error") or ""])
            continue
        speed = _speed(r, records)
        base = _speed(bare[step.format], records) if step.format in bare else None
        traffic = r.get("traffic") or {}
        written = traffic.get("written") or {}
        run = step.changed is not None
        rows.append(
            [
                step.format,
                step.name + ("" if r.get("state") in (None, "succeeded") else f" ({r['state']})"),
                f"{step.changed:,}" if run else "-",
                f"{r['wall_s']:.2f}",
                f"{speed:,.0f}" if speed else "-",
                f"{speed / base:.1%}" if speed and base else "-",
                f"{r['cpu_s']:.1f}",
                f"{r['server_cpu_s']:.1f}" if run and "server_cpu_s" in r else "-",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['server_rss_mb']:.0f}" if run and "server_rss_mb" in r else "-",
                f"{traffic['write_commands']:,}" if run else "-",
                f"{sum(written.values()):,}" if run else "-",
                f"{sum(written.values()) / step.changed:.2f}" if run and step.changed else "-",
                _maybe(traffic.get("docs_read")) if run else "-",
            ]
        )
    _table(
        [
            "format",
            "step",
            "changed",
            "wall s",
            "records/s",
            "÷ bare",
            "CPU s",
            "db CPU s",
            "peak RSS MB",
            "db RSS MB",
            "write cmds",
            "docs written",
            "written/changed",
            "docs read",
        ],
        rows,
    )


def _print_stages(steps: Sequence[Step], records: int, bare: dict[str, dict[str, Any]]) -> None:
    rows = []
    for step in steps:
        stages = {s["name"].split(":")[0]: s for s in step.result.get("stages", [])}
        if step.changed is None or not stages:
            continue
        imported = stages.get("import", {}).get("counts", {})
        database = stages.get("database", {}).get("counts", {})
        exported = stages.get("export", {}).get("counts", {})
        rest = step.result["wall_s"] - sum(s["s"] for s in stages.values())
        base = _speed(bare[step.format], records) if step.format in bare else None
        import_s = stages.get("import", {}).get("s")
        import_ratio = f"{records / import_s / base:.1%}" if import_s and base else "-"
        rows.append(
            [
                step.format,
                step.name,
                *(f"{stages[n]['s']:.2f}" if n in stages else "-" for n in _STAGES),
                f"{rest:.2f}",
                "/".join(_mb(stages.get(n, {}).get("peak_rss_mb")) for n in _STAGES),
                import_ratio,
                "/".join(str(imported.get(k, "-")) for k in ("inserted", "updated", "unchanged")),
                _maybe(database.get("records_written")),
                _maybe(database.get("index_buckets_written")),
                "/".join(_changes(database, exported, k) for k in ("insert", "update")),
                _maybe(exported.get("written")),
                _maybe(exported.get("acknowledged")),
            ]
        )
    print(
        "\n## Stages of each run (seconds and counts from the run document; peak MB: VmRSS "
        "sampled every 50 ms during each stage)"
    )
    _table(
        [
            "format",
            "step",
            *(f"{n} s" for n in _STAGES),
            "other s",
            "peak MB imp/db/exp",
            "import ÷ bare",
            "ins/upd/same",
            "records written",
            "index buckets",
            "changes ins/upd",
            "exported",
            "acked",
        ],
        rows,
    )


_STAGES = ("import", "database", "export")


def _changes(database: dict[str, int], exported: dict[str, int], op: str) -> str:
    """Changes of kind `op` the run wrote: at the commit, or (a file channel publishing in the
    same run) after its publication."""
    found = [c[f"changes_{op}"] for c in (database, exported) if f"changes_{op}" in c]
    return str(sum(found)) if found else "-"


def _print_writes(steps: Sequence[Step]) -> None:
    rows = []
    for step in steps:
        traffic = step.result.get("traffic")
        if step.changed is None or not traffic:
            continue
        written = dict(traffic["written"])
        named = [f"{written.pop(n, 0):,}" for n in (*PER_RECORD, "runs")]
        per_record = _per_record_docs(step.result)
        rows.append(
            [
                step.format,
                step.name,
                *named,
                f"{sum(written.values()):,}",
                f"{per_record / step.changed:.2f}" if step.changed else f"{per_record:,}",
            ]
        )
    print(
        "\n## Documents written, by collection (statements sent, upserts included); the last "
        "column: per-record documents (records, record_index, changes, issues) per changed "
        "record, or in all when nothing changed"
    )
    _table(["format", "step", *PER_RECORD, "runs", "other", "per-record/changed"], rows)


def _print_targets(
    steps: Sequence[Step],
    records: int,
    bare: dict[str, dict[str, Any]],
    target_ratio: dict[str, float],
    target_rss_mb: float,
) -> None:
    print("\n## Targets (printed, never enforced)")
    formats = list(dict.fromkeys(s.format for s in steps))
    for fmt in formats:
        mine = {s.name: s for s in steps if s.format == fmt}
        steady = mine.get(STEADY)
        if steady is None or "wall_s" not in steady.result or fmt not in bare:
            reason = next((s.result.get("error") for s in mine.values() if "error" in s.result), "")
            print(f"- {fmt}: not measured{f' ({reason})' if reason else ''}")
            continue
        ratio = _speed(steady.result, records) / _speed(bare[fmt], records)  # type: ignore[operator]
        goal = target_ratio[fmt]
        print(
            f"- {fmt}: the steady-state (2 %) run reads at {ratio:.1%} of bare-parse speed "
            f"(target ≥ {goal:.0%}): {_verdict(ratio >= goal)}"
        )
        runs = [s for s in mine.values() if s.changed is not None and "peak_rss_mb" in s.result]
        worst = max(runs, key=lambda s: s.result["peak_rss_mb"])
        peak = worst.result["peak_rss_mb"]
        print(
            f"- {fmt}: peak RSS {peak:.0f} MB in the {worst.name} run "
            f"(target < {target_rss_mb:.0f} MB): {_verdict(peak < target_rss_mb)}"
        )
        per_changed = _per_record_docs(steady.result) / max(steady.changed or 1, 1)
        same = mine.get("identical")
        same_docs = _per_record_docs(same.result) if same else None
        proportional = per_changed <= PROPORTIONAL_LIMIT and (same_docs or 0) <= CONSTANT_LIMIT
        bookkeeping = sum((steady.result.get("traffic") or {}).get("written", {}).values())
        bookkeeping -= _per_record_docs(steady.result)
        print(
            f"- {fmt}: {per_changed:.2f} per-record documents written per changed record in the "
            f"2 % run, {_maybe(same_docs)} in the identical run (target: ≤ "
            f"{PROPORTIONAL_LIMIT:g} per changed record, ≤ {CONSTANT_LIMIT} when nothing "
            f"changed): {_verdict(proportional)}; bookkeeping writes besides: {bookkeeping:,}"
        )
    for step in steps:
        if step.changed is not None and step.result.get("state") not in ("succeeded", None):
            print(
                f"- note: {step.format} {step.name} ended {step.result.get('state')}: "
                f"{step.result.get('error')}"
            )
        for problem in _surprises(step, records):
            print(f"- note: {step.format} {step.name}: {problem}")


def _surprises(step: Step, records: int) -> list[str]:
    """Where a run's own counts disagree with what the benchmark changed in the feed."""
    if step.changed is None or step.result.get("state") != "succeeded":
        return []
    stages = {s["name"].split(":")[0]: s["counts"] for s in step.result.get("stages", [])}
    imported = stages.get("import", {})
    expected = (
        {"inserted": records}
        if step.name == "first import"
        else {"updated": step.changed, "unchanged": records - step.changed}
    )
    problems = [
        f"import counted {name} {imported.get(name)}, expected {value}"
        for name, value in expected.items()
        if imported.get(name) != value
    ]
    if stages.get("export", {}).get("written") != records:
        problems.append(f"the file channel exported {stages.get('export', {}).get('written')}")
    return problems


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _maybe(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], len(cell))
    print(
        " | ".join(
            h.ljust(w) if i < 2 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    )
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        cells = [
            c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) if i < len(widths) else c
            for i, c in enumerate(row)
        ]
        print(" | ".join(cells))
