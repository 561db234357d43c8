"""The one Jinja environment: sandboxed, strict, and unable to print an unquoted value.

Templates only lay out structure. Every `{{ ... }}` must pass its value through a
quoting filter (`q` for a YAML scalar, `yaml(n)` for a nested block, `sh` for a shell
line); `finalize` refuses anything else, so forgetting a filter is an error at render
time rather than an injection in a manifest.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Undefined
from jinja2.sandbox import SandboxedEnvironment
from tuneops.renderers.quoting import shell_line, yaml_block, yaml_scalar


class Quoted(str):
    """Text a quoting filter produced: the only thing a template may print."""


def _finalize(value: Any) -> Any:
    if isinstance(value, Quoted):
        return value
    raise TypeError(
        f"template printed an unquoted value ({type(value).__name__}); "
        "pass it through q, yaml(n) or sh"
    )


@cache
def environment(folder: Path | str | None = None) -> SandboxedEnvironment:
    """The environment loading templates from ``folder``: each deployment mode keeps its
    templates in its own folder (deployments/<mode>/templates), the rules stay here."""
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(folder)) if folder is not None else None,
        undefined=StrictUndefined,
        autoescape=False,
        auto_reload=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters["q"] = lambda v: Quoted(yaml_scalar(_defined(v)))
    env.filters["yaml"] = lambda v, indent: Quoted(yaml_block(_defined(v), indent))
    env.filters["sh"] = lambda argv: Quoted(shell_line(list(_defined(argv))))
    return env


def _defined(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError, naming the missing variable
    return value


def render(folder: Path | str, template: str, **context: Any) -> str:
    return environment(str(folder)).get_template(template).render(**context)
