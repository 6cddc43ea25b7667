"""The JSON records the project writes and reads back (model.json, a Hugging Face
config.json, a checkpoint's latest.json, results.json), each declared once as a schema
and checked key by key when read: a damaged or edited record is one UserError naming
the file, the key and what was expected, before any slow work. The tests generate
their damaged records from these schemas."""

import dataclasses
import json
from typing import Callable, Optional, Tuple

from finetune_lm.util.errors import UserError


@dataclasses.dataclass(frozen=True)
class Field:
    """One key of a record: its JSON types (bool is never an int here), whether it must
    be there, whether null is allowed, a further test of the value and the words for
    what is expected."""
    types: Tuple[type, ...]
    expected: str
    required: bool = True
    nullable: bool = False
    test: Optional[Callable] = None
    choices: Optional[Tuple] = None


def integer(expected="a non-negative integer", low=0, **kw):
    return Field((int,), expected, test=lambda v: v >= low, **kw)


def number(expected="a number", **kw):
    return Field((int, float), expected, **kw)


def name(choices, **kw):
    return Field((str,), "one of %s" % ", ".join(map(json.dumps, choices)), choices=tuple(choices), **kw)


def flag(**kw):
    return Field((bool,), "true or false", **kw)


def _type_ok(value, types):
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def check(record, schema, where, what="record"):
    """`record` (a parsed JSON value) against `schema` ({key: Field}); returns it.
    Keys the schema does not name are let through (records of later versions)."""
    if not isinstance(record, dict):
        raise UserError("%s holds %s; expected a JSON object (%s)"
                        % (where, type(record).__name__ if record is not None else "null", what))
    for key, field in schema.items():
        if key not in record:
            if field.required:
                raise UserError("%s lacks %r: expected %s" % (where, key, field.expected))
            continue
        value = record[key]
        if value is None and field.nullable:
            continue
        ok = (value is not None and _type_ok(value, field.types)
              and (field.choices is None or value in field.choices)
              and (field.test is None or field.test(value)))
        if not ok:
            raise UserError("%s: %r is %s; expected %s" % (where, key, json.dumps(value),
                                                          field.expected
                                                          + (" or null" if field.nullable else "")))
    return record


def read(path, schema, what="record"):
    """The JSON object in `path`, checked against `schema`."""
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        raise UserError("missing %s: expected %s" % (path, what)) from None
    except (OSError, ValueError) as err:  # unreadable, truncated, not UTF-8
        raise UserError("%s cannot be read as JSON (%s): expected %s"
                        % (path, " ".join(str(err).split()), what)) from None
    return check(record, schema, path, what)
