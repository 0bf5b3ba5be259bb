"""Fuzzing the receiver: whatever arrives, never a 500; each accepted entry stored once; each refusal kept.

Every example is a short burst of requests against a fresh database: valid pushes (with
unicode-heavy answers, some over the size limit, some repeated or edited), the same pushes
with wrong or missing tokens and signatures, truncated JSON, lone surrogates, random bytes.
Each request knows the status it must get; a valid push within the limit must be a 200.
"""

import json

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pushkit import FORMS, SECRETS, encode, jinshuju_push, resolve, wjx_push

import state
from flows import intake
from flows.receiver import create_app

TOKEN = SECRETS["SIGNUP_TOKEN"]
LIMIT = {name: conn.max_body for name, conn in FORMS.items()}

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
heavy = st.one_of(texts, st.builds(lambda s, n: s * n, st.sampled_from(["张", "🌸", "é", "x", "\u200b"]),
                                   st.integers(0, 1500)))
serials = st.integers(1, 4)
tokens = st.sampled_from([None, "", "wrong", TOKEN.upper(), TOKEN + " ", "令牌"])


@st.composite
def jinshuju_requests(draw):
    payload = jinshuju_push(draw(serials), field_1=draw(heavy), field_5=draw(st.lists(texts, max_size=3)))
    payload["entry"]["field_9"] = _padding(payload, draw(st.none() | st.integers(-2, 2)), LIMIT["signup"])
    body = encode(payload)
    good = draw(st.booleans())
    token = TOKEN if good else draw(tokens)
    too_big = len(body) > LIMIT["signup"]
    expect = {413} if too_big else {200} if good else {401} if not token else {403}
    return "signup", token, body, expect, payload if expect == {200} else None


@st.composite
def wjx_requests(draw):
    kind = draw(st.sampled_from(["good", "unsigned", "wrong"]))
    payload = wjx_push(str(draw(serials)), sign=kind != "unsigned", secret="guess" if kind == "wrong" else
                       SECRETS["SURVEY_SECRET"], q2=draw(heavy), q7=draw(texts))
    body = encode(payload)
    too_big = len(body) > LIMIT["survey"]
    expect = {413} if too_big else {"good": {200}, "unsigned": {401}, "wrong": {403}}[kind]
    return "survey", None, body, expect, payload if expect == {200} else None


@st.composite
def broken_requests(draw):
    form = draw(st.sampled_from(["signup", "survey", "paper", "nope"]))
    token = draw(st.sampled_from([TOKEN, TOKEN, None, "wrong"]))
    source = draw(st.sampled_from(["bytes", "truncated", "surrogate", "array", "other form", "unreadable"]))
    whole = encode(jinshuju_push(1) if form == "signup" else wjx_push())
    if source == "other form":
        body = encode(jinshuju_push(1, form="zzz") if form == "signup" else wjx_push(activity="42"))
    elif source == "unreadable":
        body = encode({**jinshuju_push(1), "entry": {"field_1": "x"}} if form == "signup" else
                      wjx_push(submittime="soon"))
    elif source == "bytes":
        body = draw(st.binary(max_size=300))
    elif source == "truncated":
        body = whole[: draw(st.integers(0, len(whole) - 1))]
    elif source == "surrogate":
        body = whole.replace(b'"1"', b'"\\ud83d"', 1).replace(b": 1,", b': "\\udfff",', 1)
    else:
        body = b"[" + whole + b"]"
    if form in ("paper", "nope"):
        expect = {404}
    elif form == "signup" and token != TOKEN:
        expect = {401} if token is None else {403}
    elif source in ("other form", "unreadable"):
        expect = {422}
    else:  # random bytes may happen to be a JSON object: then the connector refuses it
        expect = {400, 401, 403, 422}
    return form, token, body, expect, None


requests = st.lists(st.one_of(jinshuju_requests(), wjx_requests(), broken_requests()), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(requests)
def test_whatever_arrives_never_a_500_and_the_inbox_holds_each_accepted_entry_once(burst):
    db = state.open_db(None)
    try:
        with TestClient(create_app(db, FORMS, resolve_secret=resolve)) as client:
            accepted, refused = {}, 0
            for form, token, body, expect, payload in burst:
                r = client.post(f"/forms/{form}", params={} if token is None else {"token": token}, content=body)
                assert r.status_code in expect, (r.status_code, r.text, body[:200])
                event(f"{form} {r.status_code}")
                if r.status_code != 200:
                    refused += 1
                    reason = r.json()["error"]
                    assert reason and "\n" not in reason
                    continue
                entry = intake.parse_push(FORMS[form].service, payload)
                before = accepted.get((form, entry.serial))
                outcome = "new" if before is None else "unchanged" if before[1] == entry else "updated"
                assert r.json() == {"ok": True, "item": r.json()["item"], "status": outcome}
                event(f"{form} {outcome}")
                assert before is None or before[0] == r.json()["item"]
                accepted[(form, entry.serial)] = (r.json()["item"], entry, payload)
        items = state.inbox_items(db)
        assert sorted((i["form"], i["serial"]) for i in items) == sorted(accepted)
        for item in items:
            _, entry, payload = accepted[(item["form"], item["serial"])]
            assert (item["entry"], item["payload"]) == (entry, json.loads(encode(payload)))
        assert len(state.quarantined(db)) == refused
    finally:
        db.close()


def _padding(payload, near, limit) -> str:
    """Filler that puts the body ``near`` bytes from the limit (or none, or as close as it gets)."""
    if near is None:
        return ""
    short = limit + near - len(encode({**payload, "entry": {**payload["entry"], "field_9": ""}}))
    return "x" * max(short, 0)
