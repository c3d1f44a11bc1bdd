"""Validates META.json against the PGXN Meta Spec v1 JSON schemas in
schema-v1/ (JSON Schema 2020-12). The schemas' patterns use POSIX classes and
\\p{...} properties, which Python's re lacks: they are checked with the
`regex` module. Also: the versions agree with credits.control.
usage: python3 validate.py META.json credits.control"""
import json
import pathlib
import re
import sys

import jsonschema
import regex

here = pathlib.Path(__file__).resolve().parent / "schema-v1"
schemas = {}
for f in here.glob("*.json"):
    s = json.loads(f.read_text())
    schemas[s["$id"]] = s
    schemas[f.name] = s
root = schemas["https://pgxn.org/meta/v1/distribution.schema.json"]


def pattern(validator, patrn, instance, schema):
    if validator.is_type(instance, "string") and not regex.search(patrn, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {patrn!r}")


# in place: every referenced schema is checked by its own dialect's class
Validator = jsonschema.Draft202012Validator
Validator.VALIDATORS["pattern"] = pattern
try:  # jsonschema >= 4.18
    from referencing import Registry, Resource

    registry = Registry().with_resources((k, Resource.from_contents(v)) for k, v in schemas.items())
    validator = Validator(root, registry=registry)
except ImportError:  # Debian 12's jsonschema 4.10
    validator = Validator(root, resolver=jsonschema.RefResolver.from_schema(root, store=schemas))

meta = json.loads(pathlib.Path(sys.argv[1]).read_text())
errors = sorted(validator.iter_errors(meta), key=lambda e: list(e.path))
for e in errors:
    print(f"META.json: {'/'.join(map(str, e.path)) or '(top)'}: {e.message}")
# A planted mistake must be caught, so that a validator that accepts
# everything cannot pass.
bad = dict(meta, version="0.3", license="no such license")
bad.pop("abstract")
caught = len(list(validator.iter_errors(bad)))
if caught < 3:
    print(f"the validator caught {caught} of 3 planted mistakes")
    errors.append(caught)
control = pathlib.Path(sys.argv[2]).read_text()
version = re.search(r"^default_version = '(.*)'", control, re.M).group(1)
semver = version + ".0" * (2 - version.count("."))
for where, v in [("version", meta["version"])] + [(f"provides/{k}/version", p["version"]) for k, p in meta["provides"].items()]:
    if v != semver:
        print(f"META.json: {where} is {v}, credits.control says {version} ({semver})")
        errors.append(where)
if errors:
    sys.exit(1)
print(f"META.json is valid against the PGXN Meta Spec v1 ({len(schemas) // 2} schemas); version {semver}")
