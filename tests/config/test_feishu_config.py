"""A Feishu service in muster.yaml: it loads, bad entries are located errors, and the workspace builds its connector."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlite_utils

from config._yaml import ConfigError, load_yaml_text
from config.tenant import FeishuConnection, parse_config
from connectors.feishu import FeishuConnector, FeishuSandbox
from flows.workspace import Workspace
from mappings.policy import Policy

CONFIG = """\
coalition: Harbour Volunteers
services:
  feishu:
    app_id: cli_a1b2c3
    app_secret: {env: FEISHU_APP_SECRET}
"""


def parse(text: str):
    return parse_config(load_yaml_text(text, "muster.yaml"))


def test_a_feishu_service_loads_with_the_default_base_url():
    cfg = parse(CONFIG)

    conn = cfg.services["feishu"]
    assert isinstance(conn, FeishuConnection)
    assert (conn.service, conn.app_id, conn.base_url) == ("feishu", "cli_a1b2c3", "https://open.feishu.cn")
    assert conn.app_secret.env == "FEISHU_APP_SECRET"
    assert cfg.enabled() == {"feishu": conn}


def test_lark_is_feishu_with_another_base_url():
    cfg = parse(CONFIG.replace("    app_id:", "    base_url: https://open.larksuite.com\n    app_id:"))

    assert cfg.services["feishu"].base_url == "https://open.larksuite.com"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    app_id: cli_a1b2c3\n", "", "muster.yaml:3: services.feishu.app_id: required field is missing"),
        ("app_id: cli_a1b2c3", "app_id: ''", "muster.yaml:4: services.feishu.app_id: String should have at least 1"),
        ("{env: FEISHU_APP_SECRET}", "s3cr3t",
         "muster.yaml:5: services.feishu.app_secret: secrets are only given by reference: use {env: VARIABLE}"),
        ("{env: FEISHU_APP_SECRET}", "{env: X, prefect_secret: y}",
         "muster.yaml:5: services.feishu.app_secret: give exactly one of env or prefect_secret"),
        ("    app_id:", "    agentid: 1\n    app_id:", "muster.yaml:4: services.feishu.agentid: unknown field"),
    ],
    ids=["missing-app-id", "empty-app-id", "literal-secret", "two-secret-sources", "agentid"],
)
def test_a_bad_feishu_entry_is_a_located_error(old, new, message):
    assert old in CONFIG

    with pytest.raises(ConfigError) as info:
        parse(CONFIG.replace(old, new))

    assert message in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_the_workspace_builds_the_connector_from_app_id_and_the_resolved_secret(monkeypatch):
    sandbox = FeishuSandbox(rate_limits=False)
    text = CONFIG.replace("cli_a1b2c3", sandbox.app_id)
    monkeypatch.setenv("FEISHU_APP_SECRET", sandbox.app_secret)
    cfg = parse(text)
    ws = Workspace(db=sqlite_utils.Database(memory=True), policy=Policy(), connections=cfg.enabled(),
                   reports=None, transports={"feishu": sandbox.transport()})

    runner = ws.connector("feishu")
    runner.check()
    runner.close()

    assert isinstance(runner.connector, FeishuConnector)
    assert sandbox.calls == Counter({"POST /open-apis/auth/v3/tenant_access_token/internal": 1,
                                     "GET /open-apis/contact/v3/departments/0": 1})
