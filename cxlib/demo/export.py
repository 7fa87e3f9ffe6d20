"""The demo client's export formats: the world of :mod:`cxlib.demo.simulate` written the way a
client sends it (their own column names, a ``;``-separated CRM export with decimal commas, a
gzipped contact log in local time, a long survey file in UTC and a wide Excel relationship
survey), with planted dirt for the quarantine and ``truth.json`` with every planted value.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from cxlib.core.config import DEFAULT_SEED
from cxlib.core.lookup import map_values

from cxlib.demo.simulate import (CHANNEL_LABELS, DIRECTION_LABELS, OUTCOME_LABELS, RECORD_TYPE_LABELS, RELATIONSHIP_ATTRIBUTE_QUESTIONS,
                                  RELATIONSHIP_JOURNEY_QUESTIONS, TZ, DemoData, shift_ids, simulate_demo)


def _local_str(ts: np.ndarray, fmt: str) -> np.ndarray:
    local = pd.DatetimeIndex(pd.to_datetime(ts).tz_localize("UTC")).tz_convert(TZ)
    return np.asarray(local.strftime(fmt), dtype=object)


_CLOCK = np.array([f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)], dtype=object)


def _local_datetime_text(ts: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``_local_str(ts, '%Y-%m-%d %H:%M:%S')`` for millions of events, as pandas text: each
    value's date and clock are looked up in tables (its days, the 86,400 seconds of a day) and
    joined by Arrow, where a per-value strftime took about 1 µs (6 s for a 250,000-customer part)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    local = pd.DatetimeIndex(pd.to_datetime(ts).tz_localize("UTC")).tz_convert(TZ).tz_localize(None)
    day, sec = np.divmod(local.to_numpy().astype("datetime64[s]").astype(np.int64), 86400)
    first = int(day.min()) if len(day) else 0
    dates = pd.to_datetime((first + np.arange(int(day.max()) - first + 1 if len(day) else 0)) * 86400, unit="s")
    text = pc.binary_join_element_wise(pa.array(np.asarray(dates.strftime("%Y-%m-%d"), dtype=object)).take(day - first),
                                       pa.array(_CLOCK).take(sec), " ")
    return pd.arrays.ArrowStringArray(text, dtype=pd.Series([], dtype=str).dtype)


def _hh_mm_ss(seconds: np.ndarray) -> np.ndarray:
    """Whole seconds as 'hh:mm:ss' (the time of day part, as the contact system shows it);
    '' where missing. A lookup into the 86,400 clock strings, not a per-row format."""
    out = np.full(len(seconds), "", dtype=object)
    ok = ~np.isnan(seconds)
    out[ok] = _CLOCK[seconds[ok].astype(np.int64) % len(_CLOCK)]
    return out


def _plant(rng, n_rows: int, counts: dict[str, int], exclude: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Pick disjoint row positions for each kind of dirt."""
    pool = np.arange(n_rows) if exclude is None else np.setdiff1d(np.arange(n_rows), exclude)
    chosen = rng.choice(pool, sum(counts.values()), replace=False)
    out, at = {}, 0
    for k, c in counts.items():
        out[k] = np.sort(chosen[at:at + c])
        at += c
    return out


_BAD_TS = np.array(["2025-02-30 10:15:00", "31/13/2025 09:00", "not recorded", "2025-13-01 08:00:00", "##########"],
                   dtype=object)


def raw_frames(d: DemoData, rng, *, unknown_base: int = 900_000) -> tuple[dict[str, pd.DataFrame], dict]:
    """The client's raw exports with planted dirt; returns (frames by file name, dirt counts by table).
    Planted unknown customers are numbered from ``unknown_base`` + 10,000 up (above every real
    customer number)."""
    cust, ev = d.customers, d.events
    ids = cust["customer_id"].to_numpy()
    # --- CRM export: ';' separated, decimal comma, dd-mm-yyyy
    churn_local = pd.to_datetime(cust["churn_ts"]).dt.tz_localize("UTC").dt.tz_convert(TZ)
    crm = pd.DataFrame({
        "AccountNo": ids, "CustomerType": np.where(cust["segment"] == "business", "Business", "Residential"),
        "Plan": cust["plan"].str.title(), "Region": cust["region"],
        "StartDate": _local_str(cust["signup_ts"].to_numpy(), "%d-%m-%Y"),
        "MRR": [f"{v:.2f}".replace(".", ",") for v in cust["monthly_revenue"]],
        "Status": np.where(cust["churned"], "Cancelled", "Active"),
        "CancelDate": np.where(cust["churned"], churn_local.dt.strftime("%d-%m-%Y").to_numpy(dtype=object), ""),
        "CancelReason": cust["churn_reason"].fillna("").to_numpy(),
        "ContactConsent": cust["contact_consent"].to_numpy(),
        **_personal_details(ids),
    })
    n_dup_c, n_missing_c = 12, 6
    dup_rows = crm.iloc[np.sort(rng.choice(len(crm), n_dup_c, replace=False))]
    junk = crm.iloc[:n_missing_c].copy()
    junk["AccountNo"] = ""
    junk["CustomerType"] = "Residential"
    crm = pd.concat([crm, dup_rows, junk], ignore_index=True).sample(frac=1, random_state=int(rng.integers(1 << 31))) \
        .reset_index(drop=True)
    dirt = {"customers": {"duplicate": n_dup_c, "missing_customer_id": n_missing_c}}

    # --- contact history: local time, own labels, hh:mm:ss durations
    ht = ev["handle_time_s"].to_numpy()
    dur = _hh_mm_ss(ht)
    # text columns stay Arrow text (.array, take, map_values): no round trip through Python strings
    raw_ev = pd.DataFrame({
        "acct": cust["customer_id"].array.take(ev["cust"].to_numpy()),
        "event_time": _local_datetime_text(ev["ts"].to_numpy()),
        "chan": map_values(ev["channel"], CHANNEL_LABELS).array, "activity": ev["touchpoint"].array,
        "dept": ev["department"].array, "reason_code": ev["reason"].array,
        "result": ev["outcome"].map(OUTCOME_LABELS).to_numpy(), "agent": ev["agent"].to_numpy(),
        "duration": dur, "order_ref": ev["case"].array,
        "record_type": map_values(ev["kind"], RECORD_TYPE_LABELS).array,
        "direction": map_values(ev["initiated_by"], DIRECTION_LABELS).array,
    })
    n = len(raw_ev)
    counts = {"unparsable_timestamp": max(1, n // 700), "missing_customer_id": max(1, n // 500),
              "unknown_customer": max(1, n // 1000), "duplicate": max(1, n // 120)}
    pos = _plant(rng, n, counts)
    raw_ev.loc[pos["unparsable_timestamp"], "event_time"] = rng.choice(_BAD_TS, len(pos["unparsable_timestamp"]))
    raw_ev.loc[pos["missing_customer_id"], "acct"] = ""
    raw_ev.loc[pos["unknown_customer"], "acct"] = np.char.add("ACC", (unknown_base + rng.integers(10000, 99999, len(
        pos["unknown_customer"]))).astype(str))
    # chat and e-mail systems key contacts by a hashed e-mail address, not the account number:
    # every third such row (deterministic, no randomness used) carries it; identity_map.csv links them
    digital = raw_ev["chan"].isin(["Chat", "E-mail"]).to_numpy() & raw_ev["acct"].isin(ids).to_numpy()
    hashed = digital & (np.arange(len(raw_ev)) % 3 == 0)
    raw_ev.loc[hashed, "acct"] = raw_ev.loc[hashed, "acct"].map(_email_hash)
    raw_ev = _insert_duplicates(raw_ev, pos["duplicate"])
    dirt["events"] = counts
    id_map = pd.DataFrame({"email_sha1": [_email_hash(a) for a in ids], "account": ids})

    # --- touchpoint & journey surveys: long form, UTC with 'Z'
    sv = d.surveys
    raw_sv = pd.DataFrame({
        "account_no": ids[sv["cust"].to_numpy()],
        "response_time": pd.to_datetime(sv["ts"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(dtype=object),
        "survey_type": np.where(sv["level"] == "journey", "JRN", "TP"), "about": sv["subject"].to_numpy(),
        "question": sv["metric"].str.upper().to_numpy(), "answer": sv["score"].astype(int).astype(str).to_numpy(),
        "comment": sv["comment"].to_numpy(),
    })
    n = len(raw_sv)
    counts_s = {"score_out_of_range": max(1, n // 200), "missing_customer_id": max(1, n // 500),
                "unparsable_timestamp": max(1, n // 1000), "duplicate": max(1, n // 200)}
    pos = _plant(rng, n, counts_s)
    oor = pos["score_out_of_range"]
    raw_sv.loc[oor, "answer"] = np.where(raw_sv.loc[oor, "question"] == "NPS",
                                         rng.choice(["11", "99", "-1"], len(oor)), rng.choice(["0", "6", "7"], len(oor)))
    raw_sv.loc[pos["missing_customer_id"], "account_no"] = ""
    raw_sv.loc[pos["unparsable_timestamp"], "response_time"] = rng.choice(_BAD_TS, len(pos["unparsable_timestamp"]))
    raw_sv = _insert_duplicates(raw_sv, pos["duplicate"])

    # --- relationship survey: wide Excel, 0 = no answer on overall satisfaction
    rel = d.relationship
    raw_rel = pd.DataFrame({
        "Account": ids[rel["cust"].to_numpy()], "Date": _local_str(rel["ts"].to_numpy(), "%Y-%m-%d"),
        "How likely are you to recommend us? (0-10)": rel["nps"].astype(int).to_numpy(),
        "Overall satisfaction (1-5, 0 = no answer)": rel["osat"].astype(int).to_numpy(),
        "Comment": rel["comment"].to_numpy(),
        **{q: rel[f"j_{k}"].to_numpy() for k, q in RELATIONSHIP_JOURNEY_QUESTIONS.items()},
        **{q: rel[f"a_{k}"].astype(int).to_numpy() for k, q in RELATIONSHIP_ATTRIBUTE_QUESTIONS.items()},
    })
    raw_rel["Comment"], n_pii = _plant_personal_data(raw_rel["Comment"].to_numpy(), raw_rel["Account"].to_numpy())
    n_oor = max(1, len(raw_rel) // 500)
    oor = np.sort(rng.choice(len(raw_rel), n_oor, replace=False))
    raw_rel.loc[oor, "How likely are you to recommend us? (0-10)"] = 11
    counts_s["score_out_of_range"] += n_oor
    dirt["surveys"] = counts_s
    dirt["identity"] = {"events_hashed_id_rows": int(raw_ev["acct"].str.startswith("EM-", na=False).sum())}
    dirt["privacy"] = {"comments_with_personal_data": n_pii, "personal_columns": ["Name", "Email"]}
    staff, dirt["staff"] = _staff_export(d.staff)
    return {"crm_customers.csv": crm, "identity_map.csv": id_map, "contact_history.csv.gz": raw_ev,
            "survey_responses.csv": raw_sv, "relationship_survey.xlsx": raw_rel, "staff_pulse.csv": staff}, dirt


def _staff_export(staff: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The staff pulse as the HR tool exports it, with two planted faults found without a
    random draw: the first three answers scored 6 on the 1-5 scale, the next two without a team."""
    raw = pd.DataFrame({
        "Respondent": staff["respondent"], "Team": staff["department"], "Role": staff["role"].str.title(),
        "Process": staff["journey"].fillna(""), "Statement": staff["statement"], "Theme": staff["category"],
        "Agreement (1-5)": staff["score"].astype(int).astype(str), "Comment": staff["comment"].fillna(""),
        "Answered": _local_str(staff["ts"].to_numpy(), "%Y-%m-%d %H:%M"),
    })
    raw.loc[:2, "Agreement (1-5)"] = "6"
    raw.loc[3:4, "Team"] = ""
    return raw, {"score_out_of_range": 3, "missing_department": 2}


_FIRST = ["Anna", "Bram", "Chris", "Daan", "Emma", "Fleur", "Gijs", "Hanna", "Ivo", "Julia", "Kees", "Lotte"]
_LAST = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "Bos", "Vos"]


def _personal_details(ids: np.ndarray) -> dict[str, np.ndarray]:
    """Name and e-mail address per account, derived from the id (no random draws, so the
    rest of the demo is unchanged). Planted so that the privacy tests have something to find."""
    h = [int(hashlib.sha1(a.encode()).hexdigest()[:8], 16) for a in ids]
    first = [_FIRST[x % len(_FIRST)] for x in h]
    last = [_LAST[(x >> 8) % len(_LAST)] for x in h]
    email = [f"{f.lower()}.{l.replace(' ', '').lower()}.{a[-5:]}@example.com" for f, l, a in zip(first, last, ids)]
    return {"Name": np.array([f"{f} {l}" for f, l in zip(first, last)], dtype=object),
            "Email": np.array(email, dtype=object)}


def _plant_personal_data(comments: np.ndarray, accounts: np.ndarray) -> tuple[np.ndarray, int]:
    """Every fifth comment also gives an e-mail address, a phone number or the account
    number, as real comments do. Deterministic: no random draws."""
    out = comments.copy()
    written = np.flatnonzero(pd.notna(out))
    for k, i in enumerate(written[::5]):
        acct = accounts[i]
        extra = [f" Mail me at {_personal_details(np.array([acct]))['Email'][0]}.",
                 f" Call me on 06-{int(hashlib.sha1(acct.encode()).hexdigest()[:7], 16) % 10**8:08d}.",
                 f" My account number is {acct}."][k % 3]
        out[i] = out[i] + extra
    return out, int(len(written[::5]))


def _email_hash(account: str) -> str:
    """A stable stand-in for a hashed e-mail address of an account."""
    return "EM-" + hashlib.sha1(f"{account.lower()}@example.com".encode()).hexdigest()[:16]


def _insert_duplicates(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """Repeat the given rows right after themselves, as double-logging systems do."""
    rep = np.ones(len(frame), dtype=int)
    rep[rows] = 2
    return frame.loc[frame.index.repeat(rep)].reset_index(drop=True)


LARGE_NAMES = {"contact_history.csv.gz": "contact_history.csv", "relationship_survey.xlsx": "relationship_survey.csv"}
"""File names of the ``layout='large'`` demo (see :func:`generate_demo`)."""


LARGE_PART = 250_000
"""Customers simulated at a time by ``layout='large'`` (see :func:`generate_demo`)."""


def generate_demo(out_dir: str | Path, n_customers: int = 20_000, seed: int = DEFAULT_SEED, progress: bool = False,
                  layout: str = "demo", part_customers: int = LARGE_PART, n_jobs: int | None = None) -> dict:
    """Write the demo client's raw files and ``truth.json`` into ``out_dir``; return the truth.

    ``layout='demo'`` writes the files as the demo's ``client.yml`` reads them (gzip contact
    history, Excel relationship survey). ``layout='large'`` writes both as plain CSV
    (:data:`LARGE_NAMES`), for clients of hundreds of thousands of customers: gzip and Excel
    dominate the time there. The rows are the same.

    Above ``part_customers`` customers the large layout simulates the client in parts of that
    many, each with its own seed (drawn from ``seed``) and its own customer and case numbers,
    ``n_jobs`` parts at once (processes; None: every core), and appends the parts to the files in
    order: memory stays that of one part per process (about 6 GB for 250,000 customers) however
    large the client, and the files do not depend on ``n_jobs``. Its ``truth.json`` then holds the
    first part's realised figures beside row and dirt counts of every part (``parts`` says so).
    """
    if layout not in ("demo", "large"):
        raise ValueError(f"layout must be 'demo' or 'large', not {layout!r}")
    out_dir = Path(out_dir)
    raw_dir = out_dir / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    say = print if progress else (lambda *a, **k: None)
    if layout == "large" and n_customers > part_customers:
        truth = _generate_in_parts(raw_dir, n_customers, seed, part_customers, say, n_jobs)
    else:
        say(f"simulating {n_customers:,} customers (seed {seed}) ...", flush=True)
        data = simulate_demo(n_customers, seed)
        frames, dirt = raw_frames(data, np.random.default_rng([seed, 1]))
        truth = data.truth
        truth["dirt"] = dirt
        truth["raw_rows"] = _write_frames(raw_dir, frames, layout, say)
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=2, default=_json_default) + "\n")
    say(f"wrote {out_dir / 'truth.json'}", flush=True)
    return truth


def _generate_in_parts(raw_dir: Path, n_customers: int, seed: int, part: int, say, n_jobs: int | None) -> dict:
    """:func:`generate_demo` of a large client, ``part`` customers at a time, ``n_jobs`` parts at
    once (one process each); returns the truth. Each part is written to a folder of its own and
    appended to the client's files in order."""
    import multiprocessing
    import shutil
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    from cxlib.core.parallel import count_jobs
    starts = range(0, n_customers, part)
    unknown_base = max(900_000, 100_000 + n_customers)   # planted unknown customers: above every real one
    truth, rows, dirt = {}, {}, {}
    with tempfile.TemporaryDirectory(dir=raw_dir, prefix=".parts-") as tmp:
        work = [(Path(tmp) / f"part{k}", k, len(starts), start, min(part, n_customers - start), seed, unknown_base,
                 say is print) for k, start in enumerate(starts)]
        workers = min(count_jobs(n_jobs), len(work))
        say(f"simulating {n_customers:,} customers in {len(work)} parts of up to {part:,}, {workers} at a time ...",
            flush=True)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for (folder, k, *_), (part_truth, part_rows, part_dirt) in zip(work, pool.map(_simulate_part, work)):
                for name, n in part_rows.items():      # map gives the parts in order, whichever finishes first
                    with open(raw_dir / name, "wb" if k == 0 else "ab") as out, open(folder / name, "rb") as src:
                        shutil.copyfileobj(src, out, 16 << 20)
                    rows[name] = rows.get(name, 0) + n
                shutil.rmtree(folder)
                truth = truth or part_truth
                _add_counts(dirt, part_dirt)
    truth.update(n_customers=n_customers, dirt=dirt, raw_rows=rows,
                 parts={"count": len(starts), "customers_each": part,
                        "note": "the realised figures are the first part's; raw_rows and dirt count every part"})
    return truth


def _simulate_part(job) -> tuple[dict, dict, dict]:
    """One part of :func:`_generate_in_parts` (run in a process of its own): simulate it with its
    own seed, move its customer and case numbers past the parts before it, and write its raw
    exports to ``folder`` (the first part with the header lines). Returns (its truth, rows per
    file, dirt counts)."""
    folder, k, n_parts, start, size, seed, unknown_base, progress = job
    from cxlib.core.memory import keep_freed_memory
    keep_freed_memory()       # a spawned process: its allocators start as they come
    part_seed = seed if k == 0 else int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
    if progress:
        print(f"  part {k + 1} of {n_parts}: {size:,} customers (seed {part_seed}) ...", flush=True)
    data = simulate_demo(size, part_seed)
    shift_ids(data, start)
    frames, dirt = raw_frames(data, np.random.default_rng([seed, 1, k]), unknown_base=unknown_base)
    if k > 0:    # one staff pulse survey per client, not per part
        frames.pop("staff_pulse.csv")
        dirt.pop("staff", None)
    truth = data.truth if k == 0 else {}
    del data
    folder.mkdir(parents=True)
    return truth, _write_frames(folder, frames, "large", lambda *a, **kw: None, header=k == 0), dirt


def _add_counts(total: dict, part: dict) -> None:
    """Add the counts of ``part`` into ``total`` (nested dicts; other values: the first seen)."""
    for key, value in part.items():
        if isinstance(value, dict):
            _add_counts(total.setdefault(key, {}), value)
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
        else:
            total.setdefault(key, value)


def _write_frames(raw_dir: Path, frames: dict[str, pd.DataFrame], layout: str, say, header: bool = True) -> dict:
    """Write the raw exports (releasing each once written); returns the rows written per file.
    Without ``header`` the CSV files have no header line (a part appended to another)."""
    rows = {}
    for name in list(frames):
        frame = frames.pop(name)
        if layout == "large":   # uncompressed CSV instead of gzip and Excel: both are slow to write and read
            name = LARGE_NAMES.get(name, name)
        path = raw_dir / name
        say(f"writing {path} ({len(frame):,} rows)", flush=True)
        if name.endswith(".xlsx"):
            _write_excel(path, frame)
        else:
            _write_csv(path, frame, sep=";" if name == "crm_customers.csv" else ",", header=header)
        rows[name] = int(len(frame))
    return rows


def _write_csv(path: Path, frame: pd.DataFrame, sep: str, header: bool = True) -> None:
    """Write ``frame`` as CSV with DuckDB (gzip when the name ends in .gz): a parallel writer,
    about 10x faster than pandas on millions of rows. Empty strings are written as empty
    fields, as the client's systems do."""
    import duckdb
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.register("frame", frame.replace("", None))
    options = f"HEADER {str(header).lower()}, DELIMITER '{sep}'" + (", COMPRESSION gzip" if path.suffix == ".gz" else "")
    con.execute(f"COPY frame TO '{path}' ({options})")
    con.close()


def _write_excel(path: Path, frame: pd.DataFrame) -> None:
    """Two sheets, as survey tools export them. The workbook's properties and its zip
    entries get fixed timestamps so that the same seed gives the same bytes."""
    import re
    import zipfile
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame({"About": ["Relationship survey export", "One row per respondent",
                                "Overall satisfaction: 0 = no answer"]}).to_excel(xl, sheet_name="About", index=False)
        frame.to_excel(xl, sheet_name="Responses", index=False)
    fixed = b"2026-01-01T00:00:00Z"
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info)) for info in src.infolist()]
    entries = [(name, re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + fixed, data)
                if name == "docProps/core.xml" else data) for name, data in entries]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            dst.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data,
                         compress_type=zipfile.ZIP_DEFLATED)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))
