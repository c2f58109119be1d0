"""Posit Connect parser: the logfmt reader, the catalogue against the vendor's event list, every action
as TEXT and JSON, the documented samples, and bad input."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from shipper.ecs import PARSE_FAILURE, UNMAPPED_ACTION
from shipper.ecs_schema import flatten
from shipper_plugins.parsers.posit_connect import PositConnectParser, split_description
from shipper_plugins.parsers.posit_connect_logfmt import parse_logfmt
from tests.parsers.posit_connect_records import BARE, as_text, go_quote, make_record
from tests.vendor_lists import SAMPLES, posit_connect_events

REPO = Path(__file__).resolve().parents[2]
CSV_PATH = REPO / "plugins" / "parsers" / "posit_connect_actions.csv"


def catalogue_rows() -> list[dict]:
    with open(CSV_PATH, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


ROWS = catalogue_rows()


@pytest.fixture(scope="module")
def seed() -> dict[str, list[str]]:
    """The vendor's "Audited Events" page: action → its documented fields (tests/data/vendors/)."""
    return posit_connect_events()


# -- the logfmt reader ---------------------------------------------------------------------------
# (go_quote and BARE: tests/parsers/posit_connect_records.py, which bench/corpus.py shares)


def encode(pairs: dict[str, str], how: list[str]) -> str:
    parts = []
    for (k, v), h in zip(pairs.items(), how):
        if h == "bare" and BARE.fullmatch(v):
            parts.append(f"{k}={v}")
        elif h == "json":
            parts.append(f"{k}={json.dumps(v, ensure_ascii=True)}")
        else:
            parts.append(f"{k}={go_quote(v)}")
    return " ".join(parts)


keys = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc"), blacklist_characters='="'),
               min_size=1, max_size=12)
values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=8),
       st.lists(st.sampled_from(["bare", "go", "json"]), min_size=8, max_size=8), st.randoms())
def test_logfmt_round_trip(pairs, how, rnd):
    items = list(pairs.items())
    rnd.shuffle(items)  # keys in any order
    pairs = dict(items)
    line = encode(pairs, how)
    parsed, problems = parse_logfmt(line)
    assert problems == []
    assert parsed == pairs


def test_logfmt_go_escapes():
    line = r'a="tab\there" b="\x1b[0m" c="caf\u00e9 \U0001F600" d="q\"q\\" e="\101\x42" f=plain g=""'
    parsed, problems = parse_logfmt(line)
    assert problems == []
    assert parsed == {"a": "tab\there", "b": "\x1b[0m", "c": "café 😀", "d": 'q"q\\', "e": "AB", "f": "plain", "g": ""}


def test_logfmt_bad_lines_keep_their_text():
    parsed, problems = parse_logfmt('a=1 b="never closed')
    assert parsed == {"a": "1", "b": "never closed"} and problems
    parsed, problems = parse_logfmt(r'x="bad \q escape" y=1 y=2')
    assert parsed == {"x": r"bad \q escape", "y": ["1", "2"]}


# -- the catalogue -------------------------------------------------------------------------------


def test_every_documented_action_is_in_the_catalogue(seed):
    assert len(seed) == 72
    in_csv = {r["action"] for r in ROWS}
    assert not set(seed) - in_csv, sorted(set(seed) - in_csv)
    assert len(in_csv) == len(ROWS)


def test_every_category_type_pair_is_ecs_valid(ecs):
    for r in ROWS:
        for c in r["category"].split("|"):
            assert c in ecs.allowed("event.category"), r
            for t in r["type"].split("|"):
                assert t in ecs.expected_types(c), f"{r['action']}: {t} not expected with {c}"


# -- one generated record per documented action, TEXT and JSON ---------------------------------
# (made by tests/parsers/posit_connect_records.py)


def check(ev: dict, rec: dict, row: dict, assert_ecs) -> None:
    assert_ecs(ev, "posit_connect")
    assert not ev.get("tags"), ev
    assert ev["@timestamp"] == rec["time"]
    assert ev["event"]["id"] == str(rec["entry_id"]) and ev["posit_connect"]["entry_id"] == rec["entry_id"]
    assert ev["event"]["action"] == rec["action"]
    assert ev["event"]["category"] == row["category"].split("|") and ev["event"]["type"] == row["type"].split("|")
    assert ev["message"] == rec["msg"]
    user = ev["user"]
    assert user["id"] == str(rec["actor_id"]) and user["roles"] == [rec["actor_role"]]
    if rec["actor_id"] == 0:
        assert ev["posit_connect"]["actor_type"] == "system" and user["name"] == "Scheduled email checker"
    else:
        assert ev["posit_connect"]["actor_type"] == "user"
        assert user["name"] == "fcastell" and user["full_name"] == "Frank Castell"
        assert "fcastell" in ev["related"]["user"]
    if "user_id" in rec:
        assert user["target"]["id"] == str(rec["user_id"])
    if "group_name" in rec and "user_id" in rec:  # membership: the target user's group
        assert user["target"]["group"] == {"id": str(rec["group_id"]), "name": rec["group_name"]}
        assert "group" not in ev
    elif "group_name" in rec:
        assert ev["group"] == {"id": str(rec["group_id"]), "name": rec["group_name"]}
    for k, v in rec.items():  # *_id are integers wherever they are kept
        if k.endswith("_id") and k in ev["posit_connect"]:
            assert ev["posit_connect"][k] == v and isinstance(ev["posit_connect"][k], int)
        if k.startswith(("new_", "previous_")):
            assert ev["posit_connect"][k] == v
    shipped = {str(x) for _, v in flatten(ev) for x in (v if isinstance(v, list) else [v])}
    for k, v in rec.items():  # nothing the vendor wrote is lost
        assert str(v) in shipped, f"{k}={v!r} lost: {ev}"


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("system", [False, True])
def test_every_documented_action(seed, fmt, system, assert_ecs):
    rnd = random.Random(7)
    parser = PositConnectParser()
    by_action = {r["action"]: r for r in ROWS}
    for n, (action, fields) in enumerate(sorted(seed.items())):
        rec = make_record(action, fields, n, system, rnd)
        raw = as_text(rec, rnd) if fmt == "text" else orjson.dumps(rec)
        (ev,) = parser.parse(raw)
        assert ev["posit_connect"]["log_format"] == fmt
        check(ev, rec, by_action[action], assert_ecs)


def test_edit_user_changes(assert_ecs):
    line = (b'time="2024-01-02T03:04:05.678Z" level=info msg="Edited user" action=edit_user actor_id=1 '
            b'actor_guid=g1 actor_role=administrator actor_description="Ada Admin (ada)" entry_id=9 user_id=5 '
            b'user_guid=g5 user_role=publisher previous_username=bob new_username=bobby previous_email=b@x.y '
            b'new_email=b@x.y previous_first_name=Bob new_first_name=Robert previous_last_name=Smith '
            b'new_last_name=Smith previous_user_role=viewer new_user_role=publisher type=audit')
    (ev,) = PositConnectParser().parse(line)
    assert_ecs(ev, "posit_connect")
    assert ev["user"]["target"] == {"id": "5", "name": "bob", "email": "b@x.y", "full_name": "Bob Smith",
                                    "roles": ["viewer"]}
    assert ev["user"]["changes"] == {"name": "bobby", "full_name": "Robert Smith", "roles": ["publisher"]}
    assert {"ada", "bob", "bobby", "g5"} <= set(ev["related"]["user"])


def test_group_owner_change_is_not_a_user_change(assert_ecs):
    line = (b'time="2024-01-02T03:04:05.678Z" action=edit_group actor_id=1 actor_guid=g actor_role=administrator '
            b'actor_description="A (a)" entry_id=10 group_id=3 group_name=Pubs group_guid=gg previous_name=Pubs '
            b'new_name=Publishers previous_owner_id=1 new_owner_id=2 msg=x level=info type=audit')
    (ev,) = PositConnectParser().parse(line)
    assert_ecs(ev, "posit_connect")
    assert "changes" not in ev["user"] and ev["posit_connect"]["new_owner_id"] == 2


# -- the documented samples ----------------------------------------------------------------------


def test_documented_line(assert_ecs):
    raw = (SAMPLES / "posit_connect" / "audit-TEXT-add_group.docs.log").read_bytes()
    (ev,) = PositConnectParser().parse(raw)
    assert_ecs(ev, "posit_connect")
    assert not ev.get("tags")
    assert ev["@timestamp"] == "2022-10-18T20:07:39.813Z" and ev["event"]["id"] == "73"
    assert ev["event"]["category"] == ["iam"] and ev["event"]["type"] == ["group", "creation"]
    assert ev["user"] == {"id": "1", "roles": ["administrator"], "name": "admin", "full_name": "admin n"}
    assert ev["group"] == {"id": "2", "name": "Publishers"} and ev["message"] == "Added group Publishers"
    assert ev["posit_connect"]["group_guid"] == "1b2c1790-c95f-4df3-9363-6563475070d0"


def test_documented_actor_fragments(assert_ecs):
    lines = [l for l in (SAMPLES / "posit_connect" / "audit-TEXT-actor-fragments.docs.txt")
             .read_text().splitlines() if l and not l.startswith("#")]
    head = 'time="2022-01-01T20:00:00.000Z" level=info msg=m action=add_tag entry_id=1 type=audit '
    user_ev, system_ev = (PositConnectParser().parse((head + l).encode())[0] for l in lines)
    for ev in (user_ev, system_ev):
        assert_ecs(ev, "posit_connect")
    assert user_ev["user"]["name"] == "fcastell" and user_ev["posit_connect"]["actor_type"] == "user"
    assert system_ev["posit_connect"]["actor_type"] == "system" and system_ev["user"]["id"] == "0"
    assert "related" not in system_ev


@pytest.mark.parametrize("desc, name, full", [
    ("Frank Castell (fcastell)", "fcastell", "Frank Castell"), ("admin n (admin)", "admin", "admin n"),
    ("(solo)", "solo", None), ("no parens", "no parens", None), ("A (b) (c)", "c", "A (b)"),
])
def test_split_description(desc, name, full):
    assert split_description(desc) == (name, full)


# -- bad input -----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(assert_ecs, data):
    for ev in PositConnectParser().parse(data):
        assert_ecs(ev, "posit_connect")
        assert PARSE_FAILURE in ev["tags"]  # random bytes are never a complete audit record


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["time", "action", "entry_id", "actor_id", "user_id", "group_id",
                                        "actor_description", "actor_role", "actor_guid", "msg", "level",
                                        "new_username", "previous_username"]) | st.text(max_size=8),
                       st.none() | st.booleans() | st.integers() | st.text(max_size=15) | st.lists(st.integers(), max_size=2)))
def test_arbitrary_json_records_never_raise(assert_ecs, doc):
    for ev in PositConnectParser().parse(json.dumps(doc).encode()):
        assert_ecs(ev, "posit_connect")


def test_missing_fields_and_bad_ids_are_flagged(assert_ecs):
    p = PositConnectParser()
    (ev,) = p.parse(b'level=info msg="no time" action=add_user entry_id=3')
    assert PARSE_FAILURE in ev["tags"] and "missing time" in ev["error"]["message"]
    assert ev["event"]["original"].startswith("level=info")
    (ev,) = p.parse(b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=4 user_id=abc')
    assert_ecs(ev, "posit_connect")
    assert PARSE_FAILURE in ev["tags"] and ev["posit_connect"]["user_id_raw"] == "abc"
    (ev,) = p.parse(b'time="2022-10-18T20:07:39.813Z" action=brand_new_action entry_id=5')
    assert UNMAPPED_ACTION in ev["tags"] and PARSE_FAILURE not in ev["tags"]
    assert p.parse(b"   \r\n") == []
    (ev,) = p.parse(b'{"time": "2022-10-18T20:07:39.813Z", "action": ')
    assert PARSE_FAILURE in ev["tags"]


def test_demo_samples(assert_ecs):
    failures = []
    for path in sorted((REPO / "config" / "samples" / "posit_connect").iterdir()):
        for line in path.read_bytes().splitlines():
            for ev in PositConnectParser().parse(line):
                assert_ecs(ev, "posit_connect")
                if PARSE_FAILURE in ev.get("tags", []):
                    failures.append(ev["event"]["original"])
    assert len(failures) == 1 and "deliberately cut short" in failures[0]


@pytest.mark.parametrize("line", [
    b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=1 user_id=99999999999999999999999',
    b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=1 x_id=-9223372036854775809',
    b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=1 x_id=' + b"9" * 5000,
    b'{"time":"2022-10-18T20:07:39.813Z","action":"add_user","entry_id":1,"x_id":"9223372036854775808"}',
])
def test_ids_beyond_64_bits_are_kept_as_written(assert_ecs, line):
    """An id no `long` can hold is kept as text and flagged: as an integer, orjson could not write the event."""
    (ev,) = PositConnectParser().parse(line)
    assert_ecs(ev, "posit_connect")
    orjson.dumps(ev)
    assert PARSE_FAILURE in ev["tags"] and "is not an integer" in ev["error"]["message"]
    pc = ev["posit_connect"]
    raw = pc.get("user_id_raw", pc.get("x_id_raw"))
    assert raw in line.decode() and raw.lstrip("-").isdigit() and len(raw) >= 19
    assert ev["event"]["id"] == "1" and pc["entry_id"] == 1


def test_ids_at_the_64_bit_limits_stay_integers():
    (ev,) = PositConnectParser().parse(b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=9223372036854775807 '
                                       b'x_id=-9223372036854775808')
    assert ev["posit_connect"]["entry_id"] == 2 ** 63 - 1 and ev["posit_connect"]["x_id"] == -(2 ** 63)
    assert not ev.get("tags")
    orjson.dumps(ev)


# Lines made of what logfmt is made of (keys, '=', quotes, backslashes, escapes, white space of every kind):
# the one-scan fast path must say what the character-by-character reader says, on every line it takes.
_LOGFMT_BITS = st.sampled_from(['k', 'key_id', 'é', '=', '"', '\\', '\\"', '\\\\', '\\t', '\\u00e9', '\\x41', '\\q',
                                ' ', '  ', '\t', '\n', '\r', '\xa0', '\x00', 'v', '1', 'a=b', 'k="x y"', 'k=""',
                                ' k=', '="', '" ', '\\" ', ' k="', '\\\\" '])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_LOGFMT_BITS, max_size=14).map("".join))
def test_logfmt_fast_path_matches_the_careful_reader(line):
    from shipper_plugins.parsers import posit_connect_logfmt as lf
    assert lf.parse_logfmt(line) == lf._parse_careful(line)
    assert lf.parse_logfmt(line.strip()) == lf._parse_careful(line.strip())


def test_logfmt_fast_path_takes_well_formed_lines():
    """The corpus' lines go the one-scan way (a regex mistake would send all to the slow reader unnoticed)."""
    from shipper_plugins.parsers import posit_connect_logfmt as lf
    line = r'time="2022-10-18T20:07:39.813Z" level=info msg="a \"b\"	c" action=add_user entry_id=7 k="" j= x=y=z'
    assert lf._LINE.fullmatch(line) is not None
    assert lf.parse_logfmt(line) == lf._parse_careful(line)
    for bad in ('k="open', 'bare k=v', 'k=v"', 'k="a"b', '"k"=v', 'k=a\rb', 'k=a\xa0b'):
        assert lf._LINE.fullmatch(bad) is None, bad


@settings(max_examples=1500, deadline=None)
@given(st.lists(_LOGFMT_BITS.filter(lambda b: "\\\\" not in b), max_size=14).map("".join))
def test_logfmt_split_path_matches_the_careful_reader(line):
    """The str.split way (lines without a doubled backslash) says what the careful reader says, or passes."""
    from shipper_plugins.parsers import posit_connect_logfmt as lf
    got = lf._parse_split(line)
    assert got is None or (got, []) == lf._parse_careful(line)
    tokens = [t for t in line.replace("\t", " ").split(" ") if t]
    if not any(c in line for c in '"\\\x00') and all(t.find("=") > 0 for t in tokens):
        assert got is not None  # nothing but key=value tokens: the split way takes them


def test_other_spellings_of_ecs_keys_are_kept():
    """`MSG`, `actorRole`, `userId`, `Level` are not the keys the mapping reads: kept under posit_connect.*
    (they snake-case to ECS-placed names and were dropped without a flag)."""
    (ev,) = PositConnectParser().parse(b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=1 msg=m MSG=hello '
                                       b'actorRole=admin userId=7 Level=warn')
    pc = ev["posit_connect"]
    assert pc["msg"] == "hello" and pc["actor_role"] == "admin" and pc["user_id"] == 7 and pc["level"] == "warn"
    assert ev["message"] == "m" and "user" not in ev and "log" not in ev and not ev.get("tags")


def test_events_share_no_dict_the_pipeline_writes_to():
    """Only `ecs` is shared (nothing writes to it); the event, `event`, `tags` and the mapped dicts are per event."""
    p = PositConnectParser()
    line = (b'time="2024-01-02T03:04:05.678Z" level=info msg=x action=brand_new actor_id=1 actor_role=publisher '
            b'actor_description="Ada (ada)" entry_id=9 user_id=5 group_id=3 group_name=g')  # membership: user.target.group
    (a,), (b,) = p.parse(line), p.parse(line)
    assert a == b and a["ecs"] is b["ecs"]
    for k in ("event", "tags", "posit_connect", "user", "log", "related"):
        assert k in a and a[k] is not b[k], k
    assert a["user"]["target"]["group"] is not b["user"]["target"]["group"]
    assert a["user"]["roles"] is not b["user"]["roles"]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([("entryId", "entry_id"), ("a.b", "a_b"), ("@", "_"), ("Content GUID", "content_guid")]),
       st.text(alphabet="abcxyz", min_size=1, max_size=6))
def test_two_keys_of_one_snake_name_are_both_kept(pair, tail):
    """Keys are stored under their snake_case name: two vendor keys that share one keep both values."""
    doc = {"time": "2022-10-18T20:07:39.813Z", "action": "add_group", "entry_id": 7, "actor_id": 1,
           pair[0]: f"one<{tail}>", pair[1]: f"two<{tail}>"}
    (ev,) = PositConnectParser().parse(orjson.dumps(doc))
    shipped = orjson.dumps(ev).decode()
    assert f"one<{tail}>" in shipped and f"two<{tail}>" in shipped, ev


# -- what an auditor asks (docs/ecs-conventions.md) ----------------------------------------------

def _one(line: str) -> dict:
    (ev,) = PositConnectParser().parse(line.encode())
    return ev


def test_membership_change_names_the_target_user_and_group(assert_ecs):
    ev = _one('time=2024-05-02T10:00:00.000Z level=info type=audit action=add_group_member entry_id=9 actor_id=1 '
              'actor_guid=a-1 actor_role=administrator actor_description="Ada L (ada)" group_id=4 group_guid=g-4 '
              'group_name=auditors user_id=7 user_guid=u-7 user_role=viewer msg="Added user to group"')
    assert_ecs(ev, "posit_connect")
    assert ev["user"]["name"] == "ada"
    assert ev["user"]["target"]["id"] == "7" and ev["user"]["target"]["group"] == {"id": "4", "name": "auditors"}
    assert ev["event"]["type"] == ["group", "change"]
    assert ev["posit_connect"]["group_guid"] == "g-4" and ev["posit_connect"]["user_guid"] == "u-7"


def test_login_has_an_outcome(assert_ecs):
    ev = _one('{"time":"2024-05-02T10:00:00.000Z","level":"info","type":"audit","action":"user_login","entry_id":3,'
              '"actor_id":7,"actor_guid":"u-7","actor_role":"viewer","actor_description":"Bob (bob)","msg":"Login"}')
    assert_ecs(ev, "posit_connect")
    assert ev["event"]["outcome"] == "success" and ev["user"]["name"] == "bob"


def test_object_type_of_a_permission_change(assert_ecs):
    ev = _one('time=2024-05-02T10:00:00.000Z level=info type=audit action=assign_user_app_role entry_id=5 actor_id=1 '
              'actor_guid=a-1 actor_role=publisher actor_description="Ada L (ada)" content_id=3 content_guid=c-3 '
              'user_id=7 user_guid=u-7 user_role=viewer msg="Gave access"')
    assert_ecs(ev, "posit_connect")
    assert ev["event"]["category"] == ["iam"] and ev["event"]["type"] == ["admin", "change"]
    assert ev["user"]["target"]["id"] == "7" and ev["posit_connect"]["content_guid"] == "c-3"


def test_time_zone_only_for_a_zoneless_time():
    base = 'level=info type=audit action=user_login entry_id=3 actor_id=7 actor_guid=u-7 msg=x time='
    assert "timezone" not in _one(base + "2024-05-02T10:00:00.000Z")["event"]
    (ev,) = PositConnectParser({"timezone": "America/Chicago"}).parse((base + "2024-05-02T10:00:00.000").encode())
    assert ev["event"]["timezone"] == "America/Chicago" and ev["@timestamp"] == "2024-05-02T15:00:00.000Z"


def test_message_without_msg():
    ev = _one('time=2024-05-02T10:00:00.000Z level=info type=audit action=remove_api_key entry_id=3 actor_id=7 '
              'actor_guid=u-7 actor_description="Bob (bob)"')
    assert ev["message"] == "bob: remove_api_key" and "user" in ev["event"]["type"]


def test_every_iam_entry_names_its_object():
    with open(Path(__file__).resolve().parents[2] / "plugins" / "parsers" / "posit_connect_actions.csv", encoding="utf-8") as f:
        for r in csv.DictReader(line for line in f if not line.startswith("#")):
            if "iam" in r["category"].split("|"):
                assert {"user", "group", "admin"} & set(r["type"].split("|")), r


def test_unparsable_line_is_a_pipeline_error():
    (ev,) = PositConnectParser().parse(b'{"time":"2024-05-02T10:00:00.000Z","action":')
    assert ev["event"]["kind"] == "pipeline_error" and PARSE_FAILURE in ev["tags"]
