"""Fuzzing the input surfaces a user edits by hand: policy, config, roster spreadsheet (CSV and XLSX).

Whatever the input, the loader either accepts it or raises its own user-facing error
(``ConfigError`` naming the file and, where it can, line and field; ``RosterImportError``
naming the file and each bad row) — never another exception. A roster import that fails
writes nothing: the database is byte-for-byte the rows it was before. (The receiver has its
own fuzzer: tests/flows/test_receiver_fuzz.py.)

Inputs are random text and bytes, and structure-aware mutations of valid files: a line
dropped, duplicated or truncated, a scalar replaced by a random one, odd cells in real columns.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from importlib.resources import files
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import state
from config._yaml import ConfigError, load_yaml_text
from config.tenant import load_config, parse_config
from flows.roster_io import RosterImportError, import_roster
from mappings.models import Person
from mappings.policy import parse_policy_text

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
POLICY = files("config.templates").joinpath("policy.yaml").read_text(encoding="utf-8")
CONFIG = files("config.templates").joinpath("muster.yaml").read_text(encoding="utf-8")
FOLDER = Path(tempfile.mkdtemp(prefix="muster-fuzz-"))
LOCATED = re.compile(r"^(policy|muster)\.yaml(:\d+)?: ")

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
scalars = st.one_of(texts, st.integers(-10**12, 10**12), st.floats(allow_nan=True), st.booleans(), st.none(),
                    st.sampled_from(["", "~", "[", "{", "*x", "&a", "!!python/object:os.system", "- -", "0x1F",
                                     "1e999", "2026-13-45", "7d", "-1d", "0m", "一线", "P000001", "'", '"', "\t"]),
                    st.lists(texts, max_size=3), st.dictionaries(texts, texts, max_size=2))


def _yaml_scalar(value) -> str:
    return yaml.safe_dump(value, allow_unicode=True, default_flow_style=True).strip().removesuffix("...").strip()


@st.composite
def mutated(draw, base: str):
    """``base`` with a few line-level edits: drop, duplicate, truncate, or replace a value."""
    lines = base.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "cut", "value", "value", "value", "indent", "insert"]))
        line = lines[i]
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "cut":
            lines[i] = line[: draw(st.integers(0, len(line)))]
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 6)) + line.lstrip()
        elif op == "insert":
            lines.insert(i, draw(texts))
        elif ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: {_yaml_scalar(draw(scalars))}"
    return "\n".join(lines) + "\n"


def _clear(exc: ConfigError, name: str) -> None:
    text = str(exc)
    assert LOCATED.match(text) and exc.file.endswith(name), text
    assert "\n" not in text.strip() and "Traceback" not in text, text


# --- policy --------------------------------------------------------------------------


@BOUNDED
@given(st.one_of(texts, mutated(POLICY)))
def test_policy_text_loads_or_says_where_it_is_wrong(text):
    try:
        parse_policy_text(text, "policy.yaml")
    except ConfigError as exc:
        _clear(exc, "policy.yaml")


def test_the_template_policy_is_valid():
    assert parse_policy_text(POLICY, "policy.yaml").tiers


# --- config --------------------------------------------------------------------------


@BOUNDED
@given(st.one_of(texts, mutated(CONFIG)))
def test_config_text_loads_or_says_where_it_is_wrong(text):
    try:
        parse_config(load_yaml_text(text, "muster.yaml"))
    except ConfigError as exc:
        _clear(exc, "muster.yaml")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200) | mutated(CONFIG).map(lambda t: t.encode("utf-16")))
def test_a_config_file_of_any_bytes_is_a_config_error(data):
    path = FOLDER / "muster.yaml"
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)), str(exc)


def test_a_literal_secret_is_refused_naming_the_field():
    text = CONFIG.replace("corpsecret: {env: MUSTER_WECOM_SECRET}", "corpsecret: hunter2-literal")
    assert text != CONFIG
    try:
        parse_config(load_yaml_text(text, "muster.yaml"))
    except ConfigError as exc:
        assert "services.wecom.corpsecret" in str(exc) and "hunter2" not in str(exc)
    else:
        raise AssertionError("a literal secret was accepted")


# --- roster spreadsheet --------------------------------------------------------------

ROSTER_POLICY = parse_policy_text(POLICY, "policy.yaml")
HEADER = ["姓名", "手机号", "邮箱", "项目组", "层级", "岗位", "状态", "id", "城市"]
GOOD = {"姓名": ["张三", "李四", "王五", "Zoë", "  赵 六 "], "手机号": ["13812345678", "+86 139 0000 1111",
        "１３９００００２２２２", "12345", "", "138-1234-5678"], "邮箱": ["a@example.org", "", "not-an-email", "B@X.CN"],
        "项目组": ["社区服务组", "training", "火星组", ""], "层级": ["一线", "三线", "四线", ""],
        "岗位": ["志愿者", "counsellor、协调员", "医生", ""], "状态": ["在岗", "left", "申请", "gone", ""],
        "id": ["", "P000001", "P000002", "X9", "P999999999999"], "城市": ["武汉", "", "=cmd|' /C calc'!A0"]}
cells = st.one_of(texts, st.sampled_from(["\x00", "\r", "\n", '"', "=1+1", " ", "\ufeff", "x" * 200]))


@st.composite
def roster_tables(draw):
    """A header (real columns, shuffled, maybe a stray one) and rows of plausible or odd cells."""
    header = draw(st.permutations(HEADER))[: draw(st.integers(0, len(HEADER)))]
    if draw(st.booleans()):
        header.append(draw(texts))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        rows.append([draw(st.sampled_from(GOOD[h]) | cells) if h in GOOD else draw(cells) for h in header]
                    + draw(st.lists(cells, max_size=2)))
    return [header, *rows]


def _csv_bytes(table, encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(table)
    return out.getvalue().encode(encoding, "replace")


def _xlsx_bytes(table) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for r, row in enumerate(table, start=1):
        for c, value in enumerate(row, start=1):
            try:
                sheet.cell(r, c, value)
            except Exception:  # noqa: BLE001 - openpyxl refuses control characters; leave that cell empty
                pass
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _snapshot(db) -> list:
    return [list(db.query(f"SELECT * FROM [{t}] ORDER BY rowid")) for t in ("people", "role_assignments")]


def _seeded_db():
    db = state.open_db(None)
    state.upsert_people(db, [Person(id="P000001", name="张三", mobile="+8613812345678", team="community",
                                    tier="一线"),
                             Person(id="P000002", name="李四", email="li@example.org", status="left")])
    return db


def _import(suffix: str, data: bytes) -> None:
    path = FOLDER / f"roster{suffix}"
    path.write_bytes(data)
    db = _seeded_db()
    before = _snapshot(db)
    try:
        report = import_roster(db, path, ROSTER_POLICY)
    except RosterImportError as exc:
        text = str(exc)
        assert text.startswith(f"{path}: ") and "nothing was imported" in text, text
        assert exc.errors and all(re.match(r"^(row \d+: |cannot read the file: |the file is empty)", e)
                                  for e in exc.errors), exc.errors
        assert _snapshot(db) == before  # all rows or none
    else:
        assert report.created + report.updated + len(report.merged) <= report.rows
        people = state.list_people(db)
        assert len(people) == 2 + report.created
    finally:
        db.close()


@BOUNDED
@given(roster_tables(), st.sampled_from(["utf-8-sig", "utf-8", "gb18030", "utf-16"]))
def test_a_csv_roster_imports_whole_or_not_at_all(table, encoding):
    _import(".csv", _csv_bytes(table, encoding))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_csv_of_random_bytes_is_an_import_error(data):
    _import(".csv", data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roster_tables())
def test_an_xlsx_roster_imports_whole_or_not_at_all(table):
    _import(".xlsx", _xlsx_bytes(table))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06" + b"\x00" * 18]))
def test_xlsx_of_random_bytes_is_an_import_error(data, prefix):
    _import(".xlsx", prefix + data)


def test_a_truncated_workbook_is_an_import_error():
    data = _xlsx_bytes([["姓名", "手机号"], ["张三", "13812345678"]])
    _import(".xlsx", data[: len(data) // 2])


def test_a_field_over_the_csv_limit_is_an_import_error():
    _import(".csv", "姓名,城市\n张三,".encode() + b"x" * 200_000 + b"\n")
