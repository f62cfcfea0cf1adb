"""The landlockconfig format: parsing, validation errors, JSON<->TOML, resolution, schema."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandprint.errors import InputError
from sandprint.landlock import config as C
from sandprint.landlock import rights as R

EXAMPLE_JSON = {
    "abi": 6,
    "ruleset": [{"handledAccessFs": ["abi.all"], "handledAccessNet": ["abi.all"],
                 "scoped": ["abi.all"]}],
    "pathBeneath": [
        {"allowedAccess": ["abi.read_execute"], "parent": ["/usr"]},
        {"allowedAccess": ["abi.read_write"], "parent": ["/tmp"]},
    ],
    "netPort": [{"allowedAccess": ["connect_tcp"], "port": [443]}],
}

EXAMPLE_TOML = """\
abi = 6

# Restrict every filesystem and TCP right ABI 6 knows, and enable both scopes.
[[ruleset]]
handled_access_fs = ["abi.all"]
handled_access_net = ["abi.all"]
scoped = ["abi.all"]

[[variable]]
name = "scratch"
literal = ["/tmp"]

[[path_beneath]]
allowed_access = ["abi.read_execute"]
parent = ["/usr"]

[[path_beneath]]
allowed_access = ["abi.read_write"]
parent = ["${scratch}"]

[[net_port]]
allowed_access = ["connect_tcp"]
port = [443]
"""


@pytest.fixture(scope="module")
def schema():
    with open(C.schema_path()) as f:
        return json.load(f)


def test_format_doc_examples_resolve_to_the_documented_result(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(EXAMPLE_JSON))
    (tmp_path / "b.toml").write_text(EXAMPLE_TOML)
    for name in ("a.json", "b.toml"):
        res = C.resolve(C.load_config(str(tmp_path / name)))
        assert res.handled_fs == R.rights_for_abi("fs", 6) and len(res.handled_fs) == 16
        assert res.handled_net == {"bind_tcp", "connect_tcp"}
        assert res.scoped == {"abstract_unix_socket", "signal"}
        assert res.path_rules["/usr"] == {"execute", "read_file", "read_dir", "refer"}
        assert res.path_rules["/tmp"] == R.rights_for_abi("fs", 6) - {"execute"}
        assert res.port_rules == {443: {"connect_tcp"}}


def test_without_ruleset_only_named_rights_are_handled():
    cfg = {"abi": 6, "pathBeneath": [{"allowedAccess": ["abi.read_execute"], "parent": ["/usr"]}],
           "netPort": [{"allowedAccess": ["connect_tcp"], "port": [443]}]}
    res = C.resolve(cfg)
    assert res.handled_fs == {"execute", "read_file", "read_dir", "refer"}
    assert res.handled_net == {"connect_tcp"}
    assert res.scoped == frozenset()


def test_groups_follow_the_documents_abi():
    cfg = {"abi": 1, "pathBeneath": [{"allowedAccess": ["abi.read_write"], "parent": ["/x"]}],
           "netPort": [{"allowedAccess": ["abi.all"], "port": [80]}]}
    res = C.resolve(cfg)
    assert "refer" not in res.path_rules["/x"] and "truncate" not in res.path_rules["/x"]
    assert res.port_rules == {}        # abi.all on the network side is empty below ABI 4
    assert C.resolve(cfg, abi=3).path_rules["/x"] >= {"refer", "truncate"}
    # an abi above the newest known is the newest known
    assert C.resolve(dict(cfg, abi=1000)).handled_fs == frozenset(R.FS_RIGHTS) - {"execute"}


def test_variables_cross_product_and_dollar_escapes():
    cfg = {"variable": [{"name": "a", "literal": ["/x", "/y"]}, {"name": "b", "literal": ["1"]},
                        {"name": "b", "literal": ["2"]}, {"name": "empty"}],
           "pathBeneath": [{"allowedAccess": ["read_file"],
                            "parent": ["${a}/${b}", "/lit/$${a}", "/d/$x", "${empty}/z"]}]}
    res = C.resolve(cfg)
    assert set(res.path_rules) == {"/x/1", "/x/2", "/y/1", "/y/2", "/lit/${a}", "/d/$x"}


def test_identical_paths_merge_rights():
    cfg = {"pathBeneath": [{"allowedAccess": ["read_file"], "parent": ["/usr/"]},
                           {"allowedAccess": ["execute"], "parent": ["/usr/./"]}]}
    assert C.resolve(cfg).path_rules == {"/usr": {"read_file", "execute"}}


def test_round_trip_json_toml_json(tmp_path):
    cfg = C.loads_config(EXAMPLE_TOML, "toml")
    toml_text = C.dumps_toml(cfg)
    assert "[[path_beneath]]" in toml_text and "allowed_access" in toml_text
    again = C.loads_config(toml_text, "toml")
    assert again == cfg
    json_text = C.dumps_json(again)
    assert C.loads_config(json_text, "json") == cfg
    C.save_config(cfg, str(tmp_path / "out.toml"))
    C.save_config(cfg, str(tmp_path / "out.json"))
    assert C.load_config(str(tmp_path / "out.toml")) == C.load_config(str(tmp_path / "out.json"))


def test_format_guessed_from_content_without_extension(tmp_path):
    (tmp_path / "rules").write_text(json.dumps(EXAMPLE_JSON))
    (tmp_path / "rules2").write_text(EXAMPLE_TOML)
    assert C.load_config(str(tmp_path / "rules"))["netPort"][0]["port"] == [443]
    assert C.load_config(str(tmp_path / "rules2"))["abi"] == 6


def test_lists_behave_as_sets():
    cfg = C.parse_config({"pathBeneath": [{"allowedAccess": ["read_file", "read_file"],
                                           "parent": ["/a", "/a"]}]})
    assert cfg["pathBeneath"][0] == {"allowedAccess": ["read_file"], "parent": ["/a"]}


BAD = [
    ([], None, "object"),
    ({"abi": 3}, None, "no rules"),
    ({"abi": 0, "ruleset": [{"scoped": ["signal"]}]}, "abi", "integer"),
    ({"abi": True, "ruleset": [{"scoped": ["signal"]}]}, "abi", "integer"),
    ({"paths": []}, "paths", "unknown field"),
    ({"ruleset": []}, "ruleset", "empty"),
    ({"ruleset": [{}]}, "ruleset[0]", "empty"),
    ({"ruleset": [{"handledAccessFs": ["read"]}]}, "ruleset[0].handledAccessFs[0]", "unknown"),
    ({"ruleset": [{"handledAccessNet": ["read_file"]}]}, "ruleset[0].handledAccessNet[0]",
     "filesystem right"),
    ({"ruleset": [{"scoped": ["abi.read_write"]}]}, "ruleset[0].scoped[0]", "unknown scope"),
    ({"pathBeneath": [{"allowedAccess": ["abi.all"], "parent": ["/x"]}]},
     "pathBeneath[0].allowedAccess[0]", "no 'abi'"),
    ({"pathBeneath": [{"allowedAccess": ["read_file"]}]}, "pathBeneath[0].parent", "missing"),
    ({"pathBeneath": [{"allowedAccess": ["read_file"], "parent": "/x"}]},
     "pathBeneath[0].parent", "not a list"),
    ({"pathBeneath": [{"allowedAccess": ["read_file"], "parent": [""]}]},
     "pathBeneath[0].parent[0]", "empty path"),
    ({"pathBeneath": [{"allowedAccess": ["read_file"], "parent": ["${x"]}]},
     "pathBeneath[0].parent[0]", "unclosed"),
    ({"pathBeneath": [{"allowedAccess": ["read_file"], "parent": ["${nope}"]}]},
     "pathBeneath[0].parent[0]", "undefined variable"),
    ({"pathBeneath": [{"allowedAccess": ["read_file"], "parent": ["/x"], "extra": 1}]},
     "pathBeneath[0].extra", "unknown field"),
    ({"netPort": [{"allowedAccess": ["connect_tcp"], "port": [65536]}]}, "netPort[0].port[0]",
     "out of range"),
    ({"netPort": [{"allowedAccess": ["connect_tcp"], "port": [-1]}]}, "netPort[0].port[0]",
     "out of range"),
    ({"netPort": [{"allowedAccess": ["connect_tcp"], "port": ["443"]}]}, "netPort[0].port[0]",
     "not an integer"),
    ({"netPort": [{"allowedAccess": ["connect_udp"], "port": [53]}]},
     "netPort[0].allowedAccess[0]", "unknown network right"),
    ({"variable": [{"name": "_x"}]}, "variable[0].name", "invalid variable name"),
    ({"variable": [{"name": "a-b"}]}, "variable[0].name", "invalid variable name"),
    ({"variable": [{"literal": ["x"]}]}, "variable[0].name", "missing"),
    ({"variable": [{"name": "a", "literal": []}]}, "variable[0].literal", "empty"),
]


@pytest.mark.parametrize("doc,field,words", BAD)
def test_invalid_configs_name_the_field(doc, field, words):
    with pytest.raises(InputError) as exc:
        C.parse_config(doc, "bad.json", fmt="json")
    err = exc.value
    assert err.source == "bad.json"
    assert err.field == field
    assert words in str(err)
    assert err.expected


def test_toml_spelling_errors_use_toml_names(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[[path_beneath]]\nallowedAccess = ["read_file"]\nparent = ["/x"]\n')
    with pytest.raises(InputError) as exc:
        C.load_config(str(p))
    assert exc.value.field == "path_beneath[0].allowedAccess"
    assert "TOML spells it 'allowed_access'" in str(exc.value)
    assert str(p) in str(exc.value)


def test_json_duplicate_key_and_syntax_errors(tmp_path):
    p = tmp_path / "dup.json"
    p.write_text('{"abi": 1, "abi": 2, "ruleset": [{"scoped": ["signal"]}]}')
    with pytest.raises(InputError, match="key given twice"):
        C.load_config(str(p))
    p.write_text('{"abi": ')
    with pytest.raises(InputError, match="invalid JSON"):
        C.load_config(str(p))
    p = tmp_path / "x.toml"
    p.write_text("abi = = 3")
    with pytest.raises(InputError, match="invalid TOML"):
        C.load_config(str(p))
    with pytest.raises(InputError, match="does not exist"):
        C.load_config(str(tmp_path / "missing.json"))


def test_dumps_refuses_an_invalid_configuration():
    with pytest.raises(InputError):
        C.dumps_json({"netPort": [{"allowedAccess": ["connect_tcp"], "port": [99999]}]})
    with pytest.raises(InputError):
        C.dumps_toml({"pathBeneath": [{"allowedAccess": ["abi.all"], "parent": ["/"]}]})


def test_may_not_exist_marker_is_a_valid_variable(schema):
    cfg = C.mark_may_not_exist(EXAMPLE_JSON, ["/run/app.sock", "/var/cache/app/"])
    jsonschema.validate(json.loads(C.dumps_json(cfg)), schema)
    res = C.resolve(cfg)
    assert res.may_not_exist == {"/run/app.sock", "/var/cache/app"}
    again = C.mark_may_not_exist(cfg, ["/other"])
    assert [v for v in again["variable"] if v["name"] == C.MAY_NOT_EXIST_VARIABLE][0][
        "literal"] == ["/run/app.sock", "/var/cache/app/", "/other"]


# -- generated configurations: always schema-valid, and stable through both spellings ----------

_fs_names = st.sampled_from(list(R.FS_RIGHTS) + list(R.FS_GROUPS))
_net_names = st.sampled_from(list(R.NET_RIGHTS) + ["abi.all"])
_scope_names = st.sampled_from(list(R.SCOPES) + ["abi.all"])
_paths = st.from_regex(r"/[a-z0-9_.]{1,8}(/[a-z0-9_.]{1,8}){0,2}", fullmatch=True)
_var_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True)


@st.composite
def configs(draw):
    cfg: dict = {"abi": draw(st.integers(1, 8))}
    if draw(st.booleans()):
        entry = {}
        if draw(st.booleans()):
            entry["handledAccessFs"] = draw(st.lists(_fs_names, min_size=1, max_size=3))
        if draw(st.booleans()):
            entry["handledAccessNet"] = draw(st.lists(_net_names, min_size=1, max_size=2))
        if not entry or draw(st.booleans()):
            entry["scoped"] = draw(st.lists(_scope_names, min_size=1, max_size=2))
        cfg["ruleset"] = [entry]
    names = draw(st.lists(_var_names, max_size=2, unique=True))
    if names:
        cfg["variable"] = [{"name": n, "literal": draw(st.lists(_paths, min_size=1, max_size=2))}
                           for n in names]
    parents = st.one_of(_paths, *[st.just("${%s}/sub" % n) for n in names])
    cfg["pathBeneath"] = draw(st.lists(st.fixed_dictionaries({
        "allowedAccess": st.lists(_fs_names, min_size=1, max_size=4),
        "parent": st.lists(parents, min_size=1, max_size=3)}), min_size=1, max_size=3))
    if draw(st.booleans()):
        cfg["netPort"] = [{"allowedAccess": draw(st.lists(_net_names, min_size=1, max_size=2)),
                           "port": draw(st.lists(st.integers(0, 65535), min_size=1,
                                                 max_size=3))}]
    return cfg


@settings(max_examples=60, deadline=None)
@given(configs())
def test_generated_configs_validate_and_round_trip(schema, cfg):
    canonical = C.parse_config(cfg)
    as_json = json.loads(C.dumps_json(canonical))
    jsonschema.validate(as_json, schema)
    assert C.loads_config(C.dumps_toml(canonical), "toml") == canonical
    assert C.loads_config(C.dumps_json(canonical), "json") == canonical
    res = C.resolve(canonical)
    for rights in res.path_rules.values():
        assert rights <= res.handled_fs
    for rights in res.port_rules.values():
        assert rights <= res.handled_net
