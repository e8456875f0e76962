"""Load scenarios by built-in name or by path, with one-line errors that name the field."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from parley.scenarios.schema import FieldError, Scenario

BUILTIN_DIR = Path(__file__).parent / "data"


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; ``str()`` is one line naming the file and field."""


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with parley."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def resolve(name_or_path: str | Path) -> Path:
    """Turn a built-in name or a file path into a path, or raise :class:`ScenarioError`."""
    text = str(name_or_path)
    if text in builtin_names():
        return BUILTIN_DIR / f"{text}.yaml"
    path = Path(text).expanduser()
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise ScenarioError(f"{path}: no such scenario file")
        return path
    raise ScenarioError(
        f"unknown scenario '{text}' (built-in: {', '.join(builtin_names())}; or give a .yaml path)"
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario; raises :class:`ScenarioError` with one clear line."""
    path = resolve(name_or_path)
    return _load_path(str(path.resolve()), path.stat().st_mtime_ns)


class _DuplicateKey(ValueError):
    """A key given twice in one YAML mapping (PyYAML would silently keep the last)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate keys: a repeated ``ideal`` is a typo, not a choice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:  # type: ignore[override]
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool):  # PyYAML reports odd keys itself
                continue
            if key in seen:
                line = key_node.start_mark.line + 1
                raise _DuplicateKey(f"{key}: duplicate key (line {line})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@lru_cache(maxsize=64)
def _load_path(path: str, _mtime: int) -> Scenario:
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except _DuplicateKey as err:
        raise ScenarioError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ScenarioError(f"{path}: not valid YAML{where}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{path}: cannot read file ({err})") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario fields at the top level")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(f"{path}: {_describe(err)}") from None


def _describe(err: ValidationError) -> str:
    """The first error as ``field: message``, with list indices shown as ``[i]``."""
    first = err.errors(include_url=False)[0]
    loc = list(first["loc"])
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        loc.append(cause.field)
        message = cause.message
    else:
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        elif first["type"] == "missing":
            message = "missing required field"
    field = ""
    for part in loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return f"{field or '(top level)'}: {message}"
