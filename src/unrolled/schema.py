"""The config schema's wording and its generated part. `expected` and `first_error` turn a JSON Schema violation
into one short line naming the key (not Snakemake's dump of the whole config and schema). `section` writes the
schema of a config dataclass from its fields: each field's type (a `Literal` is an enum, `X | None` may be null),
bounds and description are written once, on the field (config.py's `setting`), and the schema's `model`, `arm`
and `train` sections are generated from them (`python -m unrolled.schema` rewrites them between the schema's
markers; a test holds the committed file to the generated text). `field_error` checks one field's value against
its schema in plain Python, with the same words: the dataclasses check themselves with it, and the trainer
needs no jsonschema.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from dataclasses import fields
from pathlib import Path

BOUNDS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "pattern")
_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}
BEGIN = "  # -- generated from the dataclasses in src/unrolled/config.py by `python -m unrolled.schema`: edit them --\n"
END = "  # -- end of the generated sections --\n"


def expected(schema: dict, plural: bool = False) -> str:
    """What a (sub)schema accepts, in words: its type or values and its bounds."""
    if "enum" in schema:
        return "one of " + ", ".join(map(repr, schema["enum"]))
    kinds = schema.get("type", "value")
    one = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
           "array": "a list", "object": "a mapping", "null": "null"}
    many = {"integer": "integers", "number": "numbers", "string": "strings", "array": "lists", "object": "mappings"}
    text = " or ".join((many if plural else one).get(k, k) for k in (kinds if isinstance(kinds, list) else [kinds]))
    if "items" in schema:
        text += f" of {expected(schema['items'], plural=True)}"
    bounds = [f"{word} {schema[key]}" for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                         ("maximum", "<="), ("exclusiveMaximum", "<"))
              if key in schema]
    return text + (f" {' and '.join(bounds)}" if bounds else "")


def validator(schema: dict):
    """`schema`'s JSON Schema validator, with an integer an int: JSON Schema counts 1.0 as one too, which the
    dataclasses (and `range`) refuse, so a `max_iters: 1.0e+3` is named by the dry run, not by a job."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    checker = cls.TYPE_CHECKER.redefine("integer", lambda _, value: _IS["integer"](value))
    return jsonschema.validators.extend(cls, type_checker=checker)(schema)


def first_error(instance: dict, schema: dict) -> tuple[str, str, str] | None:
    """The first violation of `schema` by `instance`: (the key's dotted path, what is wrong, the validator)."""
    import jsonschema

    error = jsonschema.exceptions.best_match(validator(schema).iter_errors(instance))
    if error is None:
        return None
    where = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        where = where + unknown[:1]
        message = f"unknown key {unknown[0]!r}" + (f"; expected one of {sorted(allowed)}" if allowed else "")
    elif error.validator in ("oneOf", "anyOf", "type", "minimum", "exclusiveMinimum", "maximum",
                             "exclusiveMaximum", "enum"):
        options = error.schema.get(error.validator) if error.validator in ("oneOf", "anyOf") else [error.schema]
        message = f"{error.instance!r} is not " + "; nor ".join(expected(o) for o in options)
        if error.schema.get("description"):
            message += f" ({error.schema['description'].strip()})"
    else:
        message = error.message if len(error.message) <= 300 else error.message[:300] + " ..."
    return ".".join(map(str, where)) or "(top level)", message, error.validator




def field_schema(hint, metadata) -> dict:
    """One field's JSON Schema: its type (a Literal's values as an enum; X | None also null), bounds, description."""
    args = typing.get_args(hint)
    nullable = isinstance(hint, types.UnionType) and type(None) in args
    base = next(a for a in args if a is not type(None)) if nullable else hint
    if typing.get_origin(base) is typing.Literal:
        schema = {"enum": list(typing.get_args(base))}
    else:
        schema = {"type": [_TYPES[base], "null"] if nullable else _TYPES[base]}
    schema |= {key: metadata[key] for key in BOUNDS if key in metadata}
    if metadata.get("doc"):
        schema["description"] = metadata["doc"]
    return schema


@functools.cache
def section(cls, in_config: bool = True) -> dict:
    """The schema of a dataclass's fields: with `in_config`, those a config sets (not those the data set fixes)."""
    hints = typing.get_type_hints(cls)
    props = {f.name: field_schema(hints[f.name], f.metadata) for f in fields(cls)
             if not (in_config and f.metadata.get("from_data"))}
    return {"description": cls.__doc__.split("\n\n")[0].strip(), "type": "object", "additionalProperties": False,
            "properties": props}


_IS = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
       "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
       "boolean": lambda v: isinstance(v, bool), "string": lambda v: isinstance(v, str), "null": lambda v: v is None}
_WITHIN = {"minimum": lambda v, m: v >= m, "exclusiveMinimum": lambda v, m: v > m,
           "maximum": lambda v, m: v <= m, "exclusiveMaximum": lambda v, m: v < m}


def field_error(value, schema: dict) -> str | None:
    """What is wrong with `value` under a field's schema (`field_schema`'s: an enum, or a type and its bounds
    and pattern), in `first_error`'s words; None when nothing is. Plain Python: the trainer needs no jsonschema."""
    kinds = schema.get("type", [])
    if "enum" in schema:
        fits = value in schema["enum"]
    else:
        fits = any(_IS[kind](value) for kind in (kinds if isinstance(kinds, list) else [kinds]))
        fits = fits and (value is None or all(test(value, schema[key]) for key, test in _WITHIN.items()
                                              if key in schema))
    if not fits:
        return f"{value!r} is not {expected(schema)}" + (f" ({schema['description']})" if "description" in schema
                                                         else "")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        return f"{value!r} does not match {schema['pattern']!r}"
    return None


def check_fields(obj, name: str) -> None:
    """A dataclass's values against its fields' schema: a ValueError naming the first wrong one."""
    properties = section(type(obj), in_config=False)["properties"]
    for f in fields(obj):
        wrong = field_error(getattr(obj, f.name), properties[f.name])
        if wrong:
            raise ValueError(f"{name}.{f.name}: {wrong}")


def generated() -> str:
    """The schema's generated sections, as YAML under `$defs`: the model's and the trainer's fields, and an arm's
    (the model's switches and `tune`)."""
    import yaml

    from unrolled.config import ModelConfig, TrainConfig

    model = section(ModelConfig)
    arm = {**model, "description": "an arm: model switches over the experiment's base model, or a sweep's choice",
           "properties": {"tune": {"$ref": "#/$defs/tune"},
                          **{key: {"$ref": f"#/$defs/model/properties/{key}"} for key in model["properties"]}}}
    text = yaml.safe_dump({"model": model, "arm": arm, "train": section(TrainConfig)}, sort_keys=False,
                          default_flow_style=None, width=110)
    return "".join(f"  {line}\n" if line else "\n" for line in text.splitlines())


def committed(path: Path | None = None) -> tuple[str, str, str]:
    """The schema file (the package's) as (before, the generated sections, after)."""
    from unrolled.registry import SCHEMA

    path = path or SCHEMA
    text = Path(path).read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path}: the markers of the generated sections are missing")
    before, rest = text.split(BEGIN)
    middle, after = rest.split(END)
    return before, middle, after


def write() -> None:
    """Rewrite the schema's generated sections from the dataclasses."""
    from unrolled.atomic import atomic_path
    from unrolled.registry import SCHEMA

    path = SCHEMA.resolve()  # the file, not the package's link to it
    before, _, after = committed(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(before + BEGIN + generated() + END + after)


if __name__ == "__main__":
    write()
