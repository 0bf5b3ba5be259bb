"""Form pushes as Jinshuju and Wenjuanxing send them, and the receiver under test.

The pushes follow reference §5.1 (Jinshuju) and §6.1 (Wenjuanxing); the Wenjuanxing sign is
computed here from the reference's formula, independently of ``connectors.wenjuanxing``, so
the receiver is tested against the real push functions and an independent signer.
"""

import hashlib
import json

from config.tenant import FormConnection, SecretRef

JINSHUJU_FORM = "abc123"
WJX_ACTIVITY = "5657754"
SECRETS = {"SIGNUP_TOKEN": "s3cret-token", "SURVEY_SECRET": "wjx-push-secret"}
FORMS = {
    "signup": FormConnection(service="jinshuju", form=JINSHUJU_FORM, token=SecretRef(env="SIGNUP_TOKEN"),
                             max_body=4096),
    "survey": FormConnection(service="wenjuanxing", form=WJX_ACTIVITY, push_secret=SecretRef(env="SURVEY_SECRET"),
                             max_body=2048),
    "paper": FormConnection(service="file"),
}


def resolve(ref: SecretRef) -> str:
    return SECRETS[ref.env]


def jinshuju_push(serial=1, form=JINSHUJU_FORM, **fields) -> dict:
    entry = {"serial_number": serial, "field_1": "张三", "field_2": "13812345678", **fields,
             "created_at": "2026-11-21T04:00:00.000Z", "updated_at": "2026-11-21T04:00:00.000Z",
             "creator_name": "", "info_remote_ip": "203.0.113.9"}
    return {"form": form, "form_name": "志愿者报名", "entry": entry}


def wjx_sign(activity, index, secret=SECRETS["SURVEY_SECRET"]) -> str:
    return hashlib.sha1(f"{activity}{index}{secret}".encode()).hexdigest()


def wjx_push(joinid="101812480275", activity=WJX_ACTIVITY, *, sign=True, secret=SECRETS["SURVEY_SECRET"],
             **answers) -> dict:
    """A signed push; ``index`` and ``joinid`` agree, so either reading of §6.1's sign formula holds."""
    body = {"activity": activity, "name": "心理援助志愿者招募", "timetaken": "528",
            "submittime": "2026-11-21 12:01:59", "q1": "1", "q2": "李四", "q3": "1,2", **answers,
            "joinid": joinid, "index": joinid, "totalvalue": "15"}
    if sign:
        body["sign"] = wjx_sign(activity, joinid, secret)
    return body


def encode(payload) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()
