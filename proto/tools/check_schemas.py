#!/usr/bin/env python3
"""Check proto/events against JSON Schema itself, independently of the C codec.

For every proto/events/*.schema.json: the file is a valid draft 2020-12 schema; every
`examples` entry validates; every `x-invalid-examples` entry is rejected (formats are
asserted, not just annotated) and has a matching `x-invalid-fields` entry. Envelope
examples also have their payload checked against the schema of their type.
The C side of the same contract is tests/unit/test_event.c; this script catches a schema
that contradicts its own examples. Needs python3-jsonschema (>= 4.18) and
rfc3339-validator for the date-time format. Exit 0 when all is well, 1 otherwise.

Usage: proto/tools/check_schemas.py [proto/events]
"""
import glob
import json
import os
import sys

from jsonschema import Draft202012Validator, FormatChecker


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "events")
    fmt = FormatChecker()
    schemas = {}
    failures = 0
    for path in sorted(glob.glob(os.path.join(root, "*.schema.json"))):
        name = os.path.basename(path)[: -len(".schema.json")]
        schemas[name] = load(path)
    if "envelope" not in schemas:
        print("envelope.schema.json missing")
        return 1
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        v = Draft202012Validator(schema, format_checker=fmt)
        examples = schema.get("examples", [])
        invalid = schema.get("x-invalid-examples", [])
        fields = schema.get("x-invalid-fields", [])
        if len(examples) < 2 or len(invalid) < 2 or len(invalid) != len(fields):
            print(f"{name}: needs >= 2 examples, >= 2 x-invalid-examples and one x-invalid-fields entry each")
            failures += 1
        for i, ex in enumerate(examples):
            errs = list(v.iter_errors(ex))
            if errs:
                failures += 1
                print(f"{name}: examples[{i}] rejected: {errs[0].message}")
            if name == "envelope" and not errs:
                ps = schemas.get(ex["type"])
                perr = list(Draft202012Validator(ps, format_checker=fmt).iter_errors(ex["payload"])) if ps else ["no schema"]
                if perr:
                    failures += 1
                    print(f"{name}: examples[{i}].payload rejected by {ex['type']}")
        for i, ex in enumerate(invalid):
            if v.is_valid(ex):
                failures += 1
                print(f"{name}: x-invalid-examples[{i}] accepted (expected a problem with {fields[i] if i < len(fields) else '?'})")
    print(f"{len(schemas)} schema files checked, {failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
