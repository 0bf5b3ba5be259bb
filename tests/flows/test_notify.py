"""``notify``: one person, one notice per id, on their first reachable channel."""

from test_broadcast import synced

import state
from flows.notify import notify


def _messages(ws, text):
    return [(s, uid) for s, sb in ws.sandboxes.items() for uid, t in sb.messages if t == text]


def test_a_notice_reaches_one_person_once_per_id(coalition):
    ws = synced(coalition)
    person = next(p for p in state.list_people(ws.db)
                  if p.status == "active" and any(i.person_id == p.id
                                                  for i in state.identities_for(ws.db, "dingtalk").values()))
    first = notify(ws, person.id, "请把张三加入一线群", notice_id="W1")
    again = notify(ws, person.id, "请把张三加入一线群", notice_id="W1")
    assert first.service == "dingtalk" and first.delivered
    assert again.already and again.service is None
    sent = _messages(ws, "请把张三加入一线群")
    assert len(sent) == 1 and sent[0][0] == "dingtalk"
    assert state.identities_for(ws.db, "dingtalk")[sent[0][1]].person_id == person.id


def test_someone_with_no_channel_or_not_active_is_reported_not_raised(coalition):
    ws = synced(coalition)
    left = next(p for p in state.list_people(ws.db) if p.status != "active")
    notice = notify(ws, left.id, "hello", notice_id="W2")
    assert not notice.delivered and notice.why == "not an active person in the roster"
    assert not _messages(ws, "hello")
