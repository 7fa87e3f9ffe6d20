"""How numbers read in prose and tables (cxlib.core.formatting)."""
import math

import numpy as np
import pandas as pd
import pytest

from cxlib.core.formatting import (format_bullets, format_count, format_estimate, format_interval, format_money,
                                   format_numbered, format_share, format_value, humanize, is_known, style_table)


@pytest.mark.parametrize("value, text", [(6585.4, "EUR 6,585"), (73_456, "EUR 73k"), (1_234_567, "EUR 1.2m"),
                                         (-20_000, "EUR -20k"), (None, "n/a"), (math.nan, "n/a"), (math.inf, "n/a")])
def test_money_rounds_to_what_a_reader_needs(value, text):
    assert format_money(value, "EUR") == text


def test_counts_are_whole_numbers_with_separators():
    assert format_count(80093.0) == "80,093"
    assert format_count(np.int64(7)) == "7"
    assert format_count(27.6) == "28"
    assert format_count(None) == format_count(float("nan")) == "n/a"


def test_values_by_kind_and_unknown_kinds_refused():
    assert format_value(0.1254, "share", digits=1) == "12.5%"
    assert format_value(3.14159, digits=2) == "3.14"
    assert format_value(12345.0, "count") == "12,345"
    with pytest.raises(ValueError, match="kind must be one of"):
        format_value(1, "percentage")


def test_intervals_say_their_level_and_keep_one_percent_sign():
    assert format_interval(0.31, 0.37, "share", digits=0) == "95% CI 31–37%"
    assert format_interval(64_000, 81_000, "money", currency="EUR") == "95% CI EUR 64k–EUR 81k"
    assert format_interval(0.81, 0.857) == "95% CI 0.81–0.86"
    assert format_interval(None, 1) == "95% CI n/a"
    assert format_interval(-25.4, -22.1, digits=0) == "95% CI -25 to -22"


def test_an_estimate_carries_its_interval_and_the_n_it_rests_on():
    assert format_estimate(0.125, 0.122, 0.127, "share", digits=1, n=80_093) == "12.5% (95% CI 12.2–12.7%, n = 80,093)"
    assert format_estimate(2.5, 1.5, 4.0, digits=1, n=30, unit="journeys") == "2.5 (95% CI 1.5–4.0, n = 30 journeys)"
    assert format_estimate(5.0, None, None, digits=0) == "5"              # no interval: the bare value
    assert format_estimate(math.nan, 0, 1) == "n/a"
    assert format_share(0.34, (0.31, 0.37), 720) == "34% (95% CI 31–37%, n = 720)"
    assert format_estimate(-0.004, -0.03, 0.025, "share", digits=1) == "-0.4% (95% CI -3.0 to 2.5%)"


def test_lists_and_names():
    assert format_bullets(["a", "b"]) == "- a\n- b" and format_bullets([]) == ""
    assert format_numbered(["a", "b"]) == "1. a\n2. b"
    assert humanize("new_install") == "new install" and humanize("relationship nps") == "relationship NPS"
    assert is_known(np.float64(1.0)) and not is_known("x") and not is_known(None)


def test_tables_format_by_column_kind_and_escape_client_text():
    df = pd.DataFrame({"n": [1234.0, np.nan], "share": [0.1234, 0.5], "cost": [1999.6, 10.0],
                       "name": ["<svg onload=alert(1)>", "ok"]}, index=["<b>x</b>", "y"])
    html = style_table(df, counts=["n"], shares=["share"], money=["cost"], decimals={"missing": 2}).to_html()
    assert "1,234" in html and "12.3%" in html and "2,000" in html and "–" in html
    assert "<svg" not in html and "&lt;svg onload=alert(1)&gt;" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "1234.0" not in html and "nan" not in html


def test_table_headers_read_as_words_and_the_callers_frame_is_untouched():
    df = pd.DataFrame({"completion_rate": [0.5], "csat_n": [3]}, index=pd.Index(["new_install"], name="journey_type"))
    html = style_table(df, shares=["completion_rate"], counts=["csat_n"]).to_html()
    assert ">completion rate<" in html and ">CSAT n<" in html and ">journey type<" in html
    assert "completion_rate" not in html and df.index.name == "journey_type" and list(df.columns)[0] == "completion_rate"


def test_humanize_reads_drivers_columns_and_the_clients_display_names():
    from cxlib.core.formatting import display_name, humanize, style_table, use_display_names
    assert humanize("journey: new_install") == "new install (journey)"
    assert humanize("new_install: went wrong") == "new install: went wrong"
    assert humanize("aht_s_lo") == "handle time (s) 95% low" and humanize("rw_share") == "relative-weight share"
    assert humanize("Contract = Month-to-month") == "Contract = Month-to-month"
    try:
        use_display_names({"new_install": "New installation", "Value 1": "Billing"})
        assert humanize("journey: new_install") == "New installation (journey)"
        assert display_name("Value 1") == "Billing" and display_name("Value 2") == "Value 2"
        html = style_table(pd.DataFrame({"department": ["Value 1", "Sales"], "n": [3, 4]})).to_html()
        assert "Billing" in html and "Value 1" not in html
    finally:
        use_display_names({})
    assert humanize("new_install") == "new install"


def test_display_names_for_one_page_come_back_as_they_were():
    """The report runner writes a client's front page inside ``display_names``: its names apply
    there, and whatever names were in use before apply again afterwards."""
    from cxlib.core.formatting import display_names, humanize, use_display_names
    try:
        use_display_names({"move": "House move"})
        with display_names({"relationship satisfied": "overall satisfaction"}):
            assert humanize("relationship satisfied") == "overall satisfaction"
            assert humanize("move") == "move"
        assert humanize("move") == "House move" and humanize("relationship satisfied") == "relationship satisfied"
        with pytest.raises(RuntimeError), display_names({"move": "Relocation"}):
            raise RuntimeError("a page failed")
        assert humanize("move") == "House move"
    finally:
        use_display_names({})


def test_a_money_interval_keeps_one_unit():
    assert format_interval(9584, 48000, "money", currency="EUR") == "95% CI EUR 9.6k–EUR 48k"
    assert format_interval(584, 4800, "money", currency="EUR") == "95% CI EUR 584–EUR 4,800"


def test_a_wide_table_is_shown_on_its_side_with_each_column_formatted():
    wide = pd.DataFrame({f"m{i}": [0.5, 0.25] for i in range(11)} | {"n": [1200, 30], "owner": ["Field_x", None]},
                        index=pd.Index(["new_install", "move"], name="journey_type"))
    html = style_table(wide, counts=["n"], shares=[f"m{i}" for i in range(11)]).to_html()
    assert html.index("new install") < html.index("move") < html.index(">m0<")   # journeys are the columns now
    assert "1,200" in html and "50.0%" in html and "Field_x" in html and "–" in html
    narrow = style_table(wide.iloc[:, :3], shares=["m0"]).to_html()
    assert narrow.index(">m0<") < narrow.index("new install")                   # a narrow table keeps its shape


def test_capitalize_reaches_past_opening_markup():
    from cxlib.core.formatting import capitalize
    assert capitalize("**new install (journey)** matters most") == "**New install (journey)** matters most"
    assert capitalize("<b>move</b> puts") == "<b>Move</b> puts" and capitalize("12.5% of") == "12.5% of"


def test_estimates_keep_a_decimal_only_below_100():
    import pandas as pd

    from cxlib.core.formatting import format_rounded, style_table
    assert [format_rounded(v) for v in (12.44, -3.05, 99.94, 100.0, 2016.96, -6203.9, None)] == \
        ["12.4", "-3.0", "99.9", "100", "2,017", "-6,204", "n/a"]
    df = pd.DataFrame({"churners_saved": [2016.96, 7.25], "n": [3, 4]})
    html = style_table(df, rounded=["churners_saved"], counts=["n"]).to_html()
    assert "2,017<" in html and "7.2<" in html and "2,017.0" not in html
    side = style_table(df, rounded=["churners_saved"], transpose=True).to_html()
    assert "2,017<" in side and "7.2<" in side


def test_an_interval_whose_bounds_would_print_alike_gets_more_digits():
    """A million responses give an NPS interval narrower than a point: '-23 (95% CI -23 to -23)'
    would read as no uncertainty. The bounds (and the estimate) get a digit or two more; a wide
    interval, money and a true zero-width interval keep theirs."""
    from cxlib.core.formatting import format_estimate, format_interval
    assert format_estimate(-23.1, -23.4, -22.8, digits=0, n=417558) == "-23.1 (95% CI -23.4 to -22.8, n = 417,558)"
    assert format_estimate(0.2161, 0.2158, 0.2164, "share", digits=1) == "21.61% (95% CI 21.58–21.64%)"
    assert format_estimate(0.34, 0.31, 0.37, "share", digits=0, n=720) == "34% (95% CI 31–37%, n = 720)"
    assert format_interval(2.0, 2.0, digits=0) == "95% CI 2–2"
    assert format_interval(1.00001, 1.00002, digits=0) == "95% CI 1.00–1.00"     # at most two more
    assert format_interval(2.2e6, 2.21e6, "money", currency="EUR") == "95% CI EUR 2.2m–EUR 2.2m"


def test_identifier_columns_show_in_words_and_client_text_as_written():
    """A journey type and the causes built from it are cxlib's identifiers: a table shows them in
    words (the client's display name first). A touchpoint is the client's own text, shown as sent."""
    from cxlib.core.formatting import style_table, use_display_names
    df = pd.DataFrame({"journey_type": ["new_install", "billing_dispute"], "root_cause": ["no update on new_install",
                       "unresolved change_plan"], "touchpoint": ["Order_corrected", "Bill"], "n": [3, 4]})
    html = style_table(df, counts=["n"]).to_html()
    assert "new install" in html and "no update on new install" in html and "unresolved change plan" in html
    assert "new_install" not in html and "Order_corrected" in html
    assert "field visit" in style_table(pd.DataFrame({"channel": ["field_visit"], "n": [2]})).to_html()
    assert df["journey_type"].tolist() == ["new_install", "billing_dispute"]            # the caller's frame
    try:
        use_display_names({"billing_dispute": "Bill dispute"})
        assert "Bill dispute" in style_table(df, counts=["n"]).to_html()
    finally:
        use_display_names({})
    wide = pd.DataFrame({f"m{i}": [0.5] for i in range(11)} | {"journey_type": ["new_install"]})
    assert "new install" in style_table(wide).to_html() and "new_install" not in style_table(wide).to_html()
