"""Dataset folder templates: Airflow's date variables, and nothing else.

A folder like ``camera-7/{{ ds }}/`` makes a date-partitioned dataset. The template is
rendered by Tributary in a sandbox that holds only the run's dates — never Airflow's full
task context — so a folder cannot read a connection, a variable or a param
(``{{ conn.my_s3.password }}`` is refused when the dataset is created, and would render
nothing but an error if it reached a run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tributary.errors import InvalidInput

Render = Callable[[str], str]
# Where a Jinja template starts: an expression, a statement or a comment.
TEMPLATE_MARKS = ("{{", "{%", "{#")

# The date variables of Airflow's task context that a folder may use.
DATE_VARIABLES = (
    "ds",
    "ds_nodash",
    "ts",
    "ts_nodash",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
)


def is_templated(folder: str) -> bool:
    """Whether a dataset folder holds a template."""
    return any(mark in folder for mark in TEMPLATE_MARKS)


def _environment():
    # Imported here: jinja2 is only needed when a folder is templated.
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def check(folder: str) -> None:
    """Refuse a folder template that is not valid or uses anything but the date variables."""
    if not is_templated(folder):
        return
    from jinja2 import TemplateSyntaxError, meta

    try:
        used = meta.find_undeclared_variables(_environment().parse(folder))
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"dataset folder {folder!r} is not a valid template: {exc}") from None
    unknown = sorted(used - set(DATE_VARIABLES))
    if unknown:
        raise InvalidInput(
            f"dataset folder {folder!r} uses {', '.join(unknown)}: a folder template may "
            f"use only the run's dates ({', '.join(DATE_VARIABLES)})"
        )


def date_renderer(values: Mapping[str, object]) -> Render:
    """Render folder templates with only the given date variables, in a sandbox."""
    dates = {name: values[name] for name in DATE_VARIABLES if values.get(name) is not None}

    def render(folder: str) -> str:
        check(folder)
        from jinja2 import TemplateError

        try:
            return _environment().from_string(folder).render(dates)
        except TemplateError as exc:
            raise InvalidInput(f"dataset folder {folder!r} could not be rendered: {exc}") from None

    return render
