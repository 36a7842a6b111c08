"""Reading query files (TOML, or JSON by extension) into a DealQuery.

Every problem is reported with the file and the field, one per line::

    query.toml: filters.feed.min_percent_below: must be ≥ 0
    query.toml: filters.feed.min_percent_belw: unknown key (did you mean 'min_percent_below'?)
"""

from __future__ import annotations

import difflib
import json
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from keepa_deals.errors import ConfigError
from keepa_deals.query.model import DealQuery
from keepa_deals.query.sources import SOURCE_KINDS, ListSpec

DEFAULT_QUERY = "used-books-us"
#: The built-in query files: package data of this package, ``query/builtin/*.toml``.
_BUILTIN_DIR = "builtin"


class QueryFileError(ConfigError):
    """A query file cannot be read or is invalid; ``problems`` lists each as ``field: what``."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {p}" for p in self.problems))


def load_query(path: str | Path) -> DealQuery:
    """Read and validate the query file at ``path`` (``.json`` is JSON, anything else TOML)."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise QueryFileError(source, [f"cannot read the file: {reason}"]) from None
    query = parse_query(text, source=source, fmt="json" if path.suffix == ".json" else "toml")
    return with_list_paths(query, path.parent)


def with_list_paths(query: DealQuery, folder: Path) -> DealQuery:
    """List sources' relative paths made relative to the query file's folder."""
    specs: list[Any] = []
    changed = False
    for spec in query.sources:
        if isinstance(spec, ListSpec) and not Path(spec.path).is_absolute():
            moved = spec.model_copy(update={"path": str(folder / spec.path)})
            moved._where = spec._where
            specs.append(moved)
            changed = True
        else:
            specs.append(spec)
    return query.model_copy(update={"sources": specs}) if changed else query


def parse_query(text: str, *, source: str = "<query>", fmt: str = "toml") -> DealQuery:
    """Validate a query given as TOML or JSON text; ``source`` names it in errors."""
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise QueryFileError(
                source, [f"line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"]
            ) from None
    elif fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise QueryFileError(source, [f"invalid TOML: {exc}"]) from None
    else:
        raise ValueError(f"unknown query format {fmt!r} (toml or json)")
    lines = _source_lines(text) if fmt == "toml" else []
    _check_kinds(data, source, lines)
    query = query_from_data(data, source=source)
    for i, spec in enumerate(query.sources):
        if "sources" in data:
            spec._where = f"{source}: line {lines[i]}" if i < len(lines) else source
    return query


def _source_lines(text: str) -> list[int]:
    """The line of each ``[[sources]]`` header of a TOML query file (1-based)."""
    return [n for n, line in enumerate(text.splitlines(), start=1)
            if line.strip().replace(" ", "").startswith("[[sources]]")]


def _check_kinds(data: Any, source: str, lines: list[int]) -> None:
    """An unknown source kind, named with the file and the line of its ``[[sources]]``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("sources"), list):
        return
    for i, spec in enumerate(data["sources"]):
        kind = spec.get("kind") if isinstance(spec, Mapping) else None
        if kind not in SOURCE_KINDS:
            where = f"line {lines[i]}: " if i < len(lines) else ""
            what = ("required" if isinstance(spec, Mapping) and "kind" not in spec
                    else f"unknown source kind {kind!r}")
            raise QueryFileError(source, [
                f"{where}sources[{i}].kind: {what} (one of {', '.join(SOURCE_KINDS)})"])


def query_from_data(data: Any, *, source: str = "<query>") -> DealQuery:
    if not isinstance(data, Mapping):
        raise QueryFileError(source, [f"the top level must be a table, not {type(data).__name__}"])
    try:
        return DealQuery.model_validate(data)
    except ValidationError as exc:
        raise QueryFileError(source, [_problem(e) for e in exc.errors()]) from None


def builtin_queries() -> list[str]:
    """The names of the query files shipped with keepa-deals."""
    folder = resources.files("keepa_deals.query") / _BUILTIN_DIR
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir()
                  if p.name.endswith(".toml"))


def load_builtin(name: str = DEFAULT_QUERY) -> DealQuery:
    """A query file shipped with keepa-deals, by name."""
    resource = resources.files("keepa_deals.query") / _BUILTIN_DIR / f"{name}.toml"
    if not resource.is_file():
        raise ConfigError(f"no built-in query {name!r} (there are: {', '.join(builtin_queries())})")
    return parse_query(resource.read_text(encoding="utf-8"), source=f"{name}.toml")


def default_query() -> DealQuery:
    """The built-in default: used books on amazon.com."""
    return load_builtin(DEFAULT_QUERY)


def resolve_query(spec: str | Path | None) -> DealQuery:
    """None: the default; an existing path: that file; otherwise a built-in name."""
    if spec is None or spec == "":
        return default_query()
    path = Path(spec)
    if path.exists() or path.suffix in (".toml", ".json") or "/" in str(spec):
        return load_query(path)
    return load_builtin(str(spec))


# --- error messages ---------------------------------------------------------------


def _problem(error: Mapping[str, Any]) -> str:
    loc = tuple(error.get("loc", ()))
    where = _loc_text(loc) or "(top level)"
    return f"{where}: {_message(error, loc)}"


def _loc_text(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _message(error: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "extra_forbidden":
        allowed = _keys_at(loc[:-1])
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1) if allowed else []
        return "unknown key" + (f" (did you mean {near[0]!r}?)" if near else "")
    if kind == "missing":
        return "required"
    if kind in _BOUNDS:
        return f"must be {_BOUNDS[kind]} {_num(next(iter(ctx.values())))}, got {value!r}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, got {value!r}"
    if kind in _TYPES:
        return f"must be {_TYPES[kind]}, got {_describe(value)}"
    if kind == "string_pattern_mismatch":
        return ("must be 1-64 lower-case letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit; got {value!r}")
    if kind in ("too_short", "too_long"):
        return _length_message(kind, ctx, value)
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "invalid")))
    return str(error.get("msg", "invalid"))


_BOUNDS = {"greater_than_equal": "≥", "less_than_equal": "≤", "greater_than": ">",
           "less_than": "<"}
_TYPES = {
    "int_type": "an integer", "int_from_float": "an integer", "float_type": "a number",
    "bool_type": "true or false", "string_type": "a string", "list_type": "a list",
    "model_type": "a table", "model_attributes_type": "a table", "dict_type": "a table",
}


def _length_message(kind: str, ctx: Mapping[str, Any], value: Any) -> str:
    size = ctx.get("actual_length")
    lo, hi = ctx.get("min_length"), ctx.get("max_length")
    if kind == "too_short":
        return f"needs at least {lo} item(s), got {size}"
    return f"takes at most {hi} item(s), got {size}"


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _describe(value: Any) -> str:
    kind = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)
    return f"{kind} {value!r}" if not isinstance(value, dict | list) else kind


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the table at ``loc`` (for "did you mean")."""
    model: type[BaseModel] | None = DealQuery
    for part in loc:
        if model is None or isinstance(part, int):
            return []
        field = _field_by_key(model, str(part))
        model = _model_in(field.annotation) if field is not None else None
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if (field.alias or name) == key:
            return field
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
