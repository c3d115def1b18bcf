"""Print the fault matrix: one row per kind of action, one column per fault on the wire.

Each cell reads `effects (actions)`: how many times the action shows at the fake service, and how
many times the CMOC acted (sent, sent again, or sent again after looking in the channel). A cell
that is not exactly once is marked, and explained below the table; the exit status is then 1.

Run from the repository root: `python -m tests.fault_matrix_report` (or `make faults`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.test_fault_matrix import (
    FAULTS,
    KINDS,
    Result,
    engine_from,
    migrated_template,
    run_cell,
    small_organisation,
)

MARK = " ✗"


def cell_text(result: Result) -> str:
    """`1 (2)`, with the writes that reached the service when they differ, marked if not once."""
    text = f"{result.effects} ({result.actions})"
    if any(n != 1 for n in result.writes.values()):
        text += " w" + "+".join(str(n) for n in result.writes.values())
    if result.looked:
        text += "*"
    return text + ("" if result.exactly_once else MARK)


def table(results: dict[tuple[str, str], Result]) -> str:
    """The matrix as aligned plain text."""
    header = ["command kind", *(f.name for f in FAULTS)]
    rows = [[kind, *(cell_text(results[kind, f.name]) for f in FAULTS)] for kind in KINDS]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.center(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", action="append", help="only this row (repeatable)")
    parser.add_argument("--fault", action="append", help="only this column (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="tell every cell's story")
    args = parser.parse_args(argv)
    kinds = args.kind or list(KINDS)
    faults = [f for f in FAULTS if not args.fault or f.name in args.fault]

    began = time.perf_counter()
    organisation = small_organisation()
    results: dict[tuple[str, str], Result] = {}
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as folder:
        directory = Path(folder)
        template = migrated_template(directory)
        for n, (kind, fault) in enumerate((k, f) for k in kinds for f in faults):
            engine = engine_from(template, directory / f"cell-{n}.db")
            try:
                results[kind, fault.name] = run_cell(
                    kind, fault, organisation=organisation, engine=engine
                )
            finally:
                engine.dispose()
    elapsed = time.perf_counter() - began

    if args.kind or args.fault:
        for result in results.values():
            print(result.describe())
    else:
        print(table(results))
    failed = [r for r in results.values() if not r.exactly_once]
    print()
    print(
        "Each cell: effects at the fake service (actions the CMOC took); "
        "w = writes that reached the service when not one per path; ✗ = not exactly once;"
    )
    print(
        "* = Slack could not say, the CMOC found the notice in the channel and sent nothing more."
    )
    print(f"{len(results)} cells in {elapsed:.1f} s; {len(failed)} not exactly once.")
    for result in failed if not (args.kind or args.fault) else []:
        print()
        print(result.describe())
    if args.verbose and not (args.kind or args.fault):
        for result in results.values():
            print()
            print(result.describe())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
