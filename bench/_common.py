"""Shared helpers of the benchmarks: machine facts, the generated roster, RESULTS.md sections.

Benchmarks are plain scripts (``python bench/<name>.py [--quick]``); nothing here needs
anything beyond the project's own dependencies.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first, not the project
    sys.path.insert(0, str(ROOT))

from flows.demo import generate  # noqa: E402
from mappings.models import Person, RoleAssignment  # noqa: E402
from mappings.normalize import normalize_mobile  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

RESULTS_HEADER = """\
# Muster benchmarks — results

Every figure below was measured by the scripts in `bench/` (see `bench/README.md`) on the
machine named in each section; each section says when and with which command. Re-running a
script refreshes its own section only.
"""


# --- machine ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """What the figures depend on: CPU, cores, memory, Python."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                      if line.startswith("Model name")), "")
    except OSError:
        pass
    mem = ""
    try:
        kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        pass
    return {"cpu": model or platform.processor() or platform.machine(), "cores": str(os.cpu_count()),
            "memory": mem, "python": platform.python_version(), "os": platform.platform(terse=True)}


def machine_line() -> str:
    m = machine()
    return (f"{m['cpu']}, {m['cores']} cores (`nproc`), {m['memory']} RAM, Python {m['python']}, "
            f"{m['os']}")


def revision() -> str:
    """The commit measured (at the script's start), and a warning if it changed during the run."""
    now = _revision()
    if now != _START:
        return f"{_START} at the start — CHANGED during the run to {now}; re-run for clean figures"
    return now


def _revision() -> str:
    """The commit checked out, and whether files outside bench/ had uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=False).stdout.splitlines()
    except OSError:
        return "unknown (no git)"
    dirty = [line[3:] for line in dirty if not line[3:].startswith("bench/")]
    text = f"commit `{head[:7]}` ({head[8:70]})" if head else "unknown"
    return text + (f", plus uncommitted changes to {len(dirty)} file(s)" if dirty else "")


_START = _revision()


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def command_line() -> str:
    """The command as typed from the project root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(ROOT))
    except ValueError:
        script_text = str(script)
    return " ".join([".venv/bin/python", script_text, *sys.argv[1:]])


def maxrss_mib() -> float:
    """Peak resident set of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- RESULTS.md -----------------------------------------------------------------------------


def write_section(name: str, body: str) -> Path:
    """Replace (or append) the section between ``<!-- bench:name -->`` markers in RESULTS.md."""
    begin, end = f"<!-- bench:{name} begin -->", f"<!-- bench:{name} end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else RESULTS_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block
    RESULTS.write_text(text, encoding="utf-8")
    return RESULTS


def md_table(headers: list[str], rows: list[list[object]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def text_table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- the roster -----------------------------------------------------------------------------

SQUADS = 200  # people per squad (an attribute the policies' small chats key on)


def roster(n: int, seed: int) -> tuple[list, list[Person]]:
    """``n`` generated volunteers (``flows.demo.generate``) and the same as roster ``Person``s.

    Persons are what ``import_roster`` makes of the master table: normalised mobile, team
    and role keys, status; plus a ``squad`` attribute (≈200 people each) for small chats.
    """
    members = generate(n, seed)
    people = [
        Person(id=m.pid, name=m.name, mobile=normalize_mobile(m.mobile), email=m.email, status=m.status,
               team=m.team, tier=m.tier, roles=tuple(RoleAssignment(role=r) for r in m.roles),
               attributes={"squad": f"s{i % max(1, n // SQUADS):03d}"})
        for i, m in enumerate(members)
    ]
    return members, people


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f}" if seconds >= 0.1 else f"{seconds:.3f}"
