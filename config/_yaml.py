"""YAML loading that remembers where every value came from.

Volunteer coordinators edit the policy and config by hand; an error must say
``policy.yaml:42: rules[3].when.role: unknown role 'medic'`` rather than dump a
traceback. PyYAML's composer keeps a start mark on every node, so we compose the
document once, build plain data from it, and keep a map from each value's path
(``("rules", 3, "when", "role")``) to its line. Duplicate keys, which PyYAML
silently accepts, are errors here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[Any, ...]


class ConfigError(Exception):
    """Bad configuration or policy input, located by file, line and field."""

    def __init__(self, message: str, *, file: str | Path = "", line: int | None = None, field: str = ""):
        self.file, self.line, self.field, self.message = str(file), line, field, message
        where = f"{self.file}:{line}" if line else self.file
        parts = [p for p in (where, field) if p]
        super().__init__(": ".join(parts + [message]))


def field_name(path: Path_) -> str:
    """``("rules", 3, "when")`` → ``rules[3].when``."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


class LocatedYaml:
    """Parsed YAML data plus the line of every path in it."""

    def __init__(self, data: Any, lines: dict[Path_, int], file: str):
        self.data, self.lines, self.file = data, lines, file

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path`` or of its nearest located ancestor."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: Path_, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, line=self.line_of(path), field=field_name(path))


def load_yaml_text(text: str, file: str | Path) -> LocatedYaml:
    """Parse ``text``; raise ``ConfigError`` with the line of a syntax error or duplicate key."""
    try:
        loader = yaml.SafeLoader(text)  # refuses control characters (a ReaderError) before any parsing
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise ConfigError(f"not valid YAML: character {char} is not allowed", file=file,
                          line=line) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"not valid YAML: {exc.problem or exc.context}", file=file,
                          line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines, str(file))
    return LocatedYaml(data, lines, str(file))


def load_yaml(path: str | Path) -> LocatedYaml:
    """Read and parse a YAML file (``ConfigError`` if it is missing or unreadable)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=path) from None
    return load_yaml_text(text, path)


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = _key(key_node)
            if key in seen:
                raise ConfigError(f"duplicate key {key!r}", file=file, line=key_node.start_mark.line + 1,
                                  field=field_name(path + (key,)))
            seen.add(key)
            _walk(value_node, path + (key,), lines, file)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), lines, file)


def _key(node: yaml.Node) -> Any:
    if node.tag.endswith(":int"):
        try:
            return int(node.value)
        except ValueError:
            return node.value
    return node.value


def pydantic_error(doc: LocatedYaml, exc: Any) -> ConfigError:
    """The first error of a pydantic ``ValidationError``, located in ``doc``."""
    first = exc.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    message = first["msg"].removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        message = "unknown field"
    elif first.get("type") == "missing":
        message = "required field is missing"
    return doc.error(loc, message)


__all__ = ["ConfigError", "LocatedYaml", "field_name", "load_yaml", "load_yaml_text", "pydantic_error"]
