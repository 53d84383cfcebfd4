"""The SVG chart builders: well-formed, accessible, escaped, scaled to the data."""

import xml.etree.ElementTree as ET

import pytest

from campaigns import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on markup that is not well-formed XML


def bars(root: ET.Element, cls: str = "bar") -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if cls in r.get("class", "").split()]


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (10, [0, 5, 10]),  # 2.5 is not a whole number: steps of 5
        (1234, [0, 500, 1000, 1500]),
        (200_000, [0, 50_000, 100_000, 150_000, 200_000]),
    ],
)
def test_ticks_are_round_numbers_reaching_the_maximum(maximum, ticks):
    assert charts.nice_ticks(maximum) == ticks


def test_a_bar_chart_is_an_accessible_image_with_one_bar_per_value():
    svg = charts.bar_chart(
        [("1 Mar", 3), ("2 Mar", 0), ("3 Mar", 6)],
        chart_id="per-day",
        title="Redemptions per day",
        x_label="Day",
        y_label="Redemptions",
        summary="9 redemptions over 3 days",
    )
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Redemptions per day. 9 redemptions over 3 days"
    assert root.find(f"{SVG}title").text == "Redemptions per day. 9 redemptions over 3 days"
    heights = [float(b.get("height")) for b in bars(root)]
    assert heights[1] == 0
    assert heights[2] == pytest.approx(2 * heights[0], abs=0.2)  # 6 is twice 3
    # The y axis reaches the largest value; axis titles are there.
    assert {"0", "2", "4", "6", "Day", "Redemptions"} <= set(texts(root))
    assert bars(root)[0].find(f"{SVG}title").text == "1 Mar: 3"


def test_only_every_nth_day_is_labelled_on_a_long_range():
    svg = charts.bar_chart(
        [(f"d{i}", i) for i in range(90)],
        chart_id="c",
        title="T",
        x_label="Day",
        y_label="N",
        label_every=10,
    )
    labels = [t for t in texts(parse(svg)) if t.startswith("d")]
    assert labels == [f"d{i}" for i in range(0, 90, 10)]


def test_a_histogram_writes_each_count_above_its_bar():
    svg = charts.histogram(
        [("< 1 h", 4), ("1–6 h", 10), ("> 7 d", 0)],
        chart_id="h",
        title="Time to redeem",
        x_label="Time",
        y_label="Redemptions",
    )
    root = parse(svg)
    values = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "value"]
    assert values == ["4", "10", "0"]
    assert "1–6 h" in texts(root)


def test_an_all_zero_chart_still_draws():
    root = parse(
        charts.bar_chart([("a", 0), ("b", 0)], chart_id="z", title="T", x_label="x", y_label="y")
    )
    assert [float(b.get("height")) for b in bars(root)] == [0, 0]
    root = parse(charts.hbar_chart([], chart_id="e", title="T", x_label="x"))
    assert bars(root) == []


def test_horizontal_bars_scale_to_the_largest_and_shorten_long_labels():
    long = "A region with a very long name indeed, longer than the label column"
    svg = charts.hbar_chart(
        [("North", 50), ("South", 25), (long, 0)],
        chart_id="r",
        title="Redemptions by region",
        x_label="Redemptions",
    )
    root = parse(svg)
    widths = [float(b.get("width")) for b in bars(root)]
    assert widths[0] == pytest.approx(2 * widths[1], abs=0.2)
    assert widths[2] == 0
    shortened = [t for t in root.iter(f"{SVG}text") if t.get("class") == "tick"][2]
    assert shortened.text.endswith("…") and len(shortened.text) < len(long)
    assert shortened.find(f"{SVG}title").text == long  # in full as its tooltip


def test_a_stacked_bar_splits_each_row_into_its_series_with_a_legend():
    svg = charts.stacked_bar_chart(
        [("Email", [0, 60, 20, 0]), ("SMS", [5, 10, 0, 5])],
        series=["Queued", "Sent", "Failed", "Skipped"],
        chart_id="d",
        title="Delivery outcomes",
        x_label="Messages",
    )
    root = parse(svg)
    segments = bars(root, "segment")
    # Empty segments are left out: Email has two, SMS three.
    assert [s.get("class") for s in segments] == [
        "segment series-1",
        "segment series-2",
        "segment series-0",
        "segment series-1",
        "segment series-3",
    ]
    email_sent, email_failed = (float(s.get("width")) for s in segments[:2])
    assert email_sent == pytest.approx(3 * email_failed, abs=0.3)  # written to 0.1 px
    # One scale for all rows: SMS's 20 messages take a quarter of Email's 80.
    sms = sum(float(s.get("width")) for s in segments[2:])
    assert sms == pytest.approx((email_sent + email_failed) / 4, abs=0.3)
    assert [s.get("class") for s in bars(root, "swatch")] == [
        f"swatch series-{i}" for i in range(4)
    ]
    assert {"Queued", "Sent", "Failed", "Skipped", "80", "20"} <= set(texts(root))


def test_text_from_data_is_escaped():
    evil = '<script>alert("x")</script> & "quotes"'
    for svg in (
        charts.bar_chart([(evil, 1)], chart_id="a", title=evil, x_label=evil, y_label=evil),
        charts.hbar_chart([(evil, 1)], chart_id="b", title=evil, x_label=evil),
        charts.stacked_bar_chart(
            [(evil, [1, 2])], series=[evil, "ok"], chart_id="c", title=evil, x_label=evil
        ),
    ):
        assert "<script>" not in svg
        root = parse(svg)  # still well-formed
        assert evil in root.get("aria-label")
        assert evil in "".join(root.itertext())


def test_charts_are_safe_strings_for_templates():
    svg = charts.hbar_chart([("a", 1)], chart_id="s", title="T", x_label="x")
    assert hasattr(svg, "__html__")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" id="s" class="chart"')
