"""Privacy helpers and comment themes on hand-made frames."""
import pandas as pd

from cxlib.drivers.comments import comment_frame, pick_excerpts, summarize_comment_themes
from cxlib.core.privacy import (drop_personal_columns, pseudonymize, redact_text, scan_for_identifiers,
                           scannable_identifiers)


def test_redact_text_masks_emails_phones_ids_and_shortens():
    text = "Mail jan.jansen@example.com or call +31 6 1234 5678 or 06-12345678; account ACC100234, case 1234567."
    out = redact_text(text, max_chars=500)
    assert out == "Mail [e-mail] or call [phone] or [phone]; account [id], case [number]."
    assert redact_text("Friendly staff, 4G works, 10 euro cheaper") == "Friendly staff, 4G works, 10 euro cheaper"
    assert redact_text("Ask C7 about it", identifiers={"C7"}) == "Ask [id] about it"
    assert len(redact_text("word " * 100, max_chars=40)) == 40


def test_pseudonyms_are_stable_salted_and_keep_missing():
    ids = pd.Series(["ACC1", "ACC2", "ACC1", None])
    p = pseudonymize(ids, salt="demo")
    assert p[0] == p[2] != p[1] and p[0].startswith("id-") and p.isna()[3]
    assert pseudonymize(ids, salt="other")[0] != p[0]


def test_personal_columns_are_dropped_by_normalised_name():
    df = pd.DataFrame({"customer_id": [1], "Full Name": ["A"], "E-mail": ["a@b.c"], "plan": ["x"], "name": ["kept"]})
    out, dropped = drop_personal_columns(df, ["full_name", "e_mail", "name"], keep={"name"})
    assert dropped == ["Full Name", "E-mail"] and list(out.columns) == ["customer_id", "plan", "name"]


def test_scan_counts_visible_identifiers_and_emails_only():
    ids = scannable_identifiers(["ACC100234", "12", "123456", "1234567", None])
    assert ids == {"ACC100234", "1234567"}
    page = ("<style>.x{}</style><p>Account ACC100234 wrote to a@b.nl.</p>"
            "<img src='data:image/png;base64,ACC100234'><p>Rows: 123,456</p>")
    assert scan_for_identifiers(page, ids) == {"identifiers": 1, "emails": 1}


def test_comment_themes_by_nps_group_with_intervals():
    rows = []
    for i in range(20):
        detractor = i < 10
        rows += [{"customer_id": f"C{i}", "level": "relationship", "timestamp": pd.Timestamp("2025-01-01"),
                  "metric": "nps", "score": 2.0 if detractor else 10.0,
                  "comment": "The bill was wrong again" if detractor else "Friendly staff"},
                 {"customer_id": f"C{i}", "level": "relationship", "timestamp": pd.Timestamp("2025-01-01"),
                  "metric": "csat", "score": 3.0, "comment": None}]
    c = comment_frame(pd.DataFrame(rows))
    assert len(c) == 20 and c["group"].value_counts().to_dict() == {"detractor": 10, "promoter": 10}
    t = summarize_comment_themes(c, group="group")
    assert t.loc["billing", "detractor share"] == 1 and t.loc["billing", "promoter share"] == 0
    assert t.loc["staff", "promoter comments"] == 10 and t.loc["staff", "n"] == 20
    assert 0 < t.loc["billing", "share_lo"] < 0.5 < t.loc["billing", "share_hi"] < 1
    assert "price" not in t.index  # themes nobody mentions are left out
    assert pick_excerpts(c, "billing", n=1) == ["The bill was wrong again"]
    assert comment_frame(pd.DataFrame(rows).drop(columns="comment")).empty
