"""``muster init``: a commented config and policy to start from.

With ``--sandbox-info`` (the JSON of ``muster sandbox serve --info``) it writes a config
pointing at the served sandboxes, the sandbox coalition's policy and its roster
spreadsheet, and says which secrets to export — the same steps as against the real
services, only the URLs and credentials differ.
"""

from __future__ import annotations

import json
import random
import secrets
from importlib.resources import files
from pathlib import Path

from config._yaml import ConfigError


def write_skeleton(folder: Path, *, sandbox_info: Path | None = None, force: bool = False) -> list[str]:
    """Write the files; return lines to show the user."""
    folder.mkdir(parents=True, exist_ok=True)
    if sandbox_info is None:
        texts = {name: files("config.templates").joinpath(name).read_text(encoding="utf-8")
                 for name in ("muster.yaml", "policy.yaml")}
        notes = ["Next: fill in corpid/appkey and agentid, export MUSTER_WECOM_SECRET, "
                 "MUSTER_WECOM_CONTACTS_SECRET (WeCom's 通讯录同步 secret) and MUSTER_DINGTALK_SECRET, "
                 "import your master table with `muster roster import FILE`, then `muster plan`."]
    else:
        texts, notes = _from_sandbox(folder, sandbox_info)
    out = []
    for name, text in texts.items():
        path = folder / name
        if path.exists() and not force:
            raise ConfigError(f"{path} exists; pass --force to overwrite it")
        path.write_text(text, encoding="utf-8")
        out.append(f"wrote {path}")
    return out + notes


def _from_sandbox(folder: Path, info_path: Path) -> tuple[dict[str, str], list[str]]:
    from flows.demo import generate, write_roster_csv
    from flows.demo_policy import demo_policy, sandbox_config

    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        chats = {s: info[s]["chats"] for s in ("wecom", "dingtalk", "feishu") if s in info}
        people, seed = info["wecom"]["people"], info["wecom"]["seed"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"not the JSON of `muster sandbox serve --info`: {exc}", file=info_path) from None
    write_roster_csv(folder / "roster.csv", generate(people, seed), random.Random(seed + 2))
    texts = {"muster.yaml": sandbox_config("sandbox coalition", info, in_process=False),
             "policy.yaml": demo_policy(chats)}
    notes = [f"wrote {folder / 'roster.csv'}",
             "Next, in this folder:",
             f"  export MUSTER_WECOM_SECRET={info['wecom']['corpsecret']}",
             *([f"  export MUSTER_WECOM_CONTACTS_SECRET={info['wecom']['contacts_secret']}"]
               if info["wecom"].get("contacts_secret") else []),
             f"  export MUSTER_DINGTALK_SECRET={info['dingtalk']['appsecret']}",
             *([f"  export MUSTER_FEISHU_SECRET={info['feishu']['app_secret']}"] if info.get("feishu") else []),
             *([f"  export MUSTER_TM_SECRET_KEY={info['tencent_meeting']['secret_key']}"]
               if info.get("tencent_meeting") else []),
             *_form_notes(info),
             "  muster roster import roster.csv && muster plan"]
    return texts, notes


def _form_notes(info: dict) -> list[str]:
    if not (info.get("jinshuju") and info.get("wenjuanxing")):
        return []
    token = secrets.token_urlsafe(18)
    return [f"  export MUSTER_JINSHUJU_SECRET={info['jinshuju']['api_secret']}",
            f"  export MUSTER_WJX_PUSH_SECRET={info['wenjuanxing']['push_secret']}",
            f"  export MUSTER_SIGNUP_PUSH_TOKEN={token}",
            "  muster serve --port 8800 &   # pushes: POST http://127.0.0.1:8800/forms/signup?token=$MUSTER_SIGNUP_PUSH_TOKEN",
            "  muster forms poll            # or read the Jinshuju form through its API"]


__all__ = ["write_skeleton"]
