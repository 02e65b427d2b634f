from __future__ import annotations

import json

from rich.console import Console

from lmrec.data import ImportReport, RejectReason


def _report() -> ImportReport:
    rep = ImportReport()
    rep.read("events", 5)
    rep.accept("events", 3)
    for line in (2, 3, 4, 5):
        rep.reject("events", RejectReason.BAD_ID, source="e.csv", line=line, value="")
    return rep


def test_reject_counts_every_row_but_keeps_few_examples() -> None:
    rep = _report()
    assert rep.rejected() == 4
    assert rep.rejected("events", RejectReason.BAD_ID) == 4
    assert rep.rejected("items") == 0
    assert [x.line for x in rep.examples["events"][RejectReason.BAD_ID]] == [2, 3, 4]
    assert not rep.ok


def test_long_example_values_are_truncated() -> None:
    rep = ImportReport()
    rep.reject("items", RejectReason.OVERSIZED_TEXT, source="i.csv", line=2, value="x" * 500)
    assert len(rep.examples["items"][RejectReason.OVERSIZED_TEXT][0].value) == 80


def test_merge_adds_counts_and_caps_examples() -> None:
    merged = _report().merge(_report())
    assert merged.rows_read["events"] == 10
    assert merged.rows_accepted["events"] == 6
    assert merged.rejected("events", RejectReason.BAD_ID) == 8
    assert len(merged.examples["events"][RejectReason.BAD_ID]) == 3


def test_as_dict_is_json_and_render_prints_reasons_verbatim() -> None:
    rep = _report()
    rep.reject("items", RejectReason.MISSING_FIELD, source="i.csv", line=9, value="[bold]x")
    data = json.loads(json.dumps(rep.as_dict()))
    assert data["events"] == {
        "read": 5,
        "accepted": 3,
        "rejected": {
            "bad_id": {
                "count": 4,
                "examples": [{"source": "e.csv", "line": n, "value": ""} for n in (2, 3, 4)],
            }
        },
    }
    console = Console(width=200, record=True)
    console.print(rep.render())
    text = console.export_text()
    assert "bad_id" in text and "missing_field" in text
    assert "'[bold]x'" in text  # printed as data, not interpreted as markup
