"""The server-side SVG charts: well-formed, accessible, escaped, proportional, localised, and
mirrored in a right-to-left language."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET

import pytest
from django.utils import translation

from cases.web import charts
from cases.web.charts import LABEL_WIDTH, PAD, WIDTH

SVG = "{http://www.w3.org/2000/svg}"
BAR_START = PAD + LABEL_WIDTH + 8


def parse(chart: charts.Chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))  # noqa: S314 - our own drawing, in a test


def bars(element: ET.Element) -> list[ET.Element]:
    return [r for r in element.iter(f"{SVG}rect") if "bar" in r.get("class", "").split()]


def test_a_chart_is_an_image_with_a_title_a_description_and_a_table():
    chart = charts.bar_chart(
        chart_id="c", title="Cases", bars=[("Intake", 3), ("Screening", 1)], value_name="n"
    )
    element = parse(chart)
    assert element.get("role") == "img"
    assert element.get("aria-labelledby") == "c-title c-desc"
    assert element.findtext(f"{SVG}title") == "Cases"
    assert element.findtext(f"{SVG}desc") == "Intake: 3; Screening: 1"
    assert chart.columns == ["", "n"]
    assert chart.rows == [["Intake", "3"], ["Screening", "1"]]


def test_bar_lengths_are_proportional_to_the_values():
    element = parse(
        charts.bar_chart(
            chart_id="c", title="t", bars=[("a", 10), ("b", 5), ("c", 0)], value_name="n"
        )
    )
    widths = [float(r.attrib["width"]) for r in bars(element)]
    assert [r.get("data-value") for r in bars(element)] == ["10", "5", "0"]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert widths[2] == 0


def test_labels_and_titles_are_escaped():
    chart = charts.bar_chart(
        chart_id="c",
        title='<script>alert("x")</script>',
        bars=[("<b>&", 1)],
        value_name="n",
    )
    text = str(chart.svg)
    assert "<script>" not in text
    assert "<b>" not in text
    assert "&lt;script&gt;" in text
    assert "&lt;b&gt;&amp;" in text
    element = parse(chart)  # still well-formed XML
    assert element.findtext(f"{SVG}title") == '<script>alert("x")</script>'


def test_in_rtl_bars_start_at_the_right_and_text_anchors_stay_logical():
    ltr = parse(
        charts.bar_chart(chart_id="c", title="t", bars=[("a", 4)], value_name="n", rtl=False)
    )
    rtl = parse(
        charts.bar_chart(chart_id="c", title="t", bars=[("a", 4)], value_name="n", rtl=True)
    )
    (left,), (right,) = bars(ltr), bars(rtl)
    assert ltr.get("direction") == "ltr"
    assert rtl.get("direction") == "rtl"
    assert float(left.attrib["x"]) == pytest.approx(BAR_START)
    assert float(right.attrib["x"]) + float(right.attrib["width"]) == pytest.approx(
        WIDTH - BAR_START
    )
    assert float(right.attrib["width"]) == pytest.approx(float(left.attrib["width"]))
    label_ltr = next(t for t in ltr.iter(f"{SVG}text") if t.get("class") == "label")
    label_rtl = next(t for t in rtl.iter(f"{SVG}text") if t.get("class") == "label")
    assert float(label_ltr.attrib["x"]) == PAD
    assert float(label_rtl.attrib["x"]) == WIDTH - PAD
    assert label_ltr.get("text-anchor") == label_rtl.get("text-anchor") == "start"


def test_the_direction_follows_the_active_language():
    with translation.override("ar"):
        assert (
            parse(charts.bar_chart(chart_id="c", title="t", bars=[], value_name="n")).get(
                "direction"
            )
            == "rtl"
        )
    with translation.override("en"):
        assert (
            parse(charts.bar_chart(chart_id="c", title="t", bars=[], value_name="n")).get(
                "direction"
            )
            == "ltr"
        )


def test_in_rtl_time_runs_from_right_to_left():
    days = [datetime.date(2026, 1, 1), datetime.date(2026, 1, 2)]
    rtl = parse(
        charts.line_chart(chart_id="l", title="t", days=days, series=[("s", [1, 2])], rtl=True)
    )
    first, last = (float(c.attrib["cx"]) for c in rtl.iter(f"{SVG}circle"))
    assert first > last


def test_grouped_bars_write_missing_values_instead_of_drawing_them():
    chart = charts.grouped_bar_chart(
        chart_id="g",
        title="t",
        groups=[("Intake", [11, 7]), ("Screening", [None, 30])],
        series=["ours", "theirs"],
        rtl=False,
    )
    element = parse(chart)
    assert [r.get("data-value") for r in bars(element)] == ["11", "7", "30"]
    assert "no data" in str(chart.svg)
    assert chart.rows == [["Intake", "11", "7"], ["Screening", "\u2013", "30"]]
    widths = {r.get("data-value"): float(r.attrib["width"]) for r in bars(element)}
    assert widths["30"] == pytest.approx(widths["7"] * 30 / 7, abs=0.5)


def test_the_heat_map_shades_by_share_and_writes_percentages():
    chart = charts.heat_map(
        chart_id="h", title="t", rows=[("Intake", [0.0, 0.5, 1.0])], columns=["a", "b", "c"]
    )
    cells = [r for r in parse(chart).iter(f"{SVG}rect") if r.get("class") == "cell"]
    opacities = [float(r.attrib["fill-opacity"]) for r in cells]
    assert opacities[0] < opacities[1] < opacities[2]
    assert chart.rows == [["Intake", "0%", "50%", "100%"]]


def test_lines_break_where_a_day_has_no_value():
    days = [datetime.date(2026, 1, d) for d in range(1, 6)]
    element = parse(
        charts.line_chart(chart_id="l", title="t", days=days, series=[("s", [1, 2, None, 4, 5])])
    )
    assert len(list(element.iter(f"{SVG}polyline"))) == 2
    assert [c.get("data-value") for c in element.iter(f"{SVG}circle")] == ["1", "2", "4", "5"]


def test_numbers_are_localised_and_negative_numbers_read_right_in_arabic():
    with translation.override("ar"):
        assert charts.fmt(10.5) == "10,5"
        assert charts.fmt(-3) == "\u2066-3\u2069"
    with translation.override("en"):
        assert charts.fmt(10.5) == "10.5"
        assert charts.fmt(1234) == "1,234"
        assert charts.fmt(None) == "\u2013"


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (12, 20), (45, 50), (230, 250)]
)
def test_axes_end_on_a_round_number(value, ceiling):
    assert charts.nice_ceiling(value) == ceiling


def test_ticks_cover_negative_and_positive_ranges():
    assert charts.ticks(-10, 5) == [-10, -5, 0, 5]
    assert charts.ticks(0, 20) == [0, 5, 10, 15, 20]
    assert charts.ticks(0, 1) == [0, 1]
