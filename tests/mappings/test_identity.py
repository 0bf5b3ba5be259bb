from mappings.identity import PeopleIndex, resolve, userid_for
from mappings.models import Account, Identity, Person

PEOPLE = [
    Person(id="P000001", name="张三", mobile="+8613800000001", email="zs@example.org"),
    Person(id="P000002", name="李四", mobile="+8613800000002"),
    Person(id="P000003", name="王五", mobile="+8613800000003"),
    Person(id="P000004", name="王五", mobile="+8613800000003"),  # the same human entered twice
    Person(id="P000005", name="赵六", email="zl@example.org"),
]
INDEX = PeopleIndex(PEOPLE)


def acc(ext, mobile=None, email=None):
    return Account(service="wecom", external_id=ext, name=ext, mobile=mobile, email=email)


def test_links_by_normalised_mobile_and_email():
    res = resolve("wecom", [acc("zhangsan", mobile="138-0000-0001"), acc("zhao", email=" ZL@example.org ")],
                  INDEX, {})
    assert {e: (i.person_id, i.matched_by) for e, i in res.links.items()} == {
        "zhangsan": ("P000001", "mobile"),
        "zhao": ("P000005", "email"),
    }
    assert len(res.new) == 2 and not res.reviews and not res.unmatched


def test_ambiguous_mobile_goes_to_review_never_a_guess():
    res = resolve("wecom", [acc("wangwu", mobile="+86 13800000003")], INDEX, {})
    assert res.links == {}
    assert [(r.external_id, r.reason, r.candidates) for r in res.reviews] == [
        ("wangwu", "mobile matches several people", ("P000003", "P000004"))
    ]


def test_mobile_and_email_pointing_at_different_people_is_ambiguous():
    res = resolve("wecom", [acc("x", mobile="13800000002", email="zs@example.org")], INDEX, {})
    assert res.reviews[0].reason == "mobile and email match different people"
    assert res.reviews[0].candidates == ("P000001", "P000002")


def test_existing_link_wins_and_muster_ids_match_their_person():
    existing = {"old": Identity(service="wecom", external_id="old", person_id="P000002")}
    res = resolve("wecom", [acc("old"), acc(userid_for("m", "P000005"))], INDEX, existing)
    assert res.links["old"].person_id == "P000002"
    assert res.links["mp000005"].matched_by == "user_id"
    assert [i.external_id for i in res.new] == ["mp000005"]


def test_second_account_of_one_person_is_reviewed():
    res = resolve("wecom", [acc("a", mobile="13800000001"), acc("b", email="zs@example.org")], INDEX, {})
    assert list(res.links) == ["a"]
    assert res.reviews[0].external_id == "b" and "already has account a" in res.reviews[0].reason


def test_unmatched_and_dropped_links():
    existing = {"gone": Identity(service="wecom", external_id="gone", person_id="P999999")}
    res = resolve("wecom", [acc("stranger", mobile="13999999999"), acc("gone")], INDEX, existing)
    assert [a.external_id for a in res.unmatched] == ["gone", "stranger"]
    assert [i.person_id for i in res.dropped] == ["P999999"]
