#!/usr/bin/env python3
"""Check proto/openapi.yaml against the C code, statically, so the two cannot drift apart.

1. Routes: every http_server_route() or http_server_route_body() call in services/*/*.c and common/daemon.c is an
   operation of the spec with the same method and path template, and the spec has no other
   operation. For each: `x-roles` is the set of roles the C role mask admits (AUTH_ROLE_*
   from common/auth.h, local masks such as `staff` or a file's `#define SUPERVISORS (...)`
   resolved, also when built from one another); a public route (mask 0) has
   `security: []` and `x-roles: []`; a service route has `x-service: <directory>` and that
   tag, a common route (daemon.c) the `operations` tag and no `x-service`; the path's
   `{params}` are declared as path parameters; and the statuses every route can give are
   documented (401/503 when authenticated, 403 unless every role is admitted, 415 with a
   JSON body, 404 with a path parameter, 400/405/411/413/431/500 always).
2. Request tables (needs PyYAML): a schema with `x-c-table: <file>#<table>` has exactly the
   members of that rv_field_t table (common/reqval.h), less `x-c-table-omit`, with the same
   type, required set (plus `x-c-required-in-code`), length / range / item limits and
   allowed values; optional members are nullable (reqval treats null as absent); strings
   refuse control characters as reqval does (single-line or multi-line pattern), and
   nested objects point at their own tables.
3. Enumerations (needs PyYAML): `x-enum-source: proto/events/<file>#<json pointer>` lists
   the event contract's values in the same order; `x-c-enum: common/casefsm.c#states` the
   state names of the C table.
4. Examples (needs PyYAML and, optionally, python3-jsonschema): every example in the spec
   validates against its schema (OpenAPI 3.0 `nullable` honoured).

Without PyYAML only (1) runs, from a line-based reading of the `paths:` block (keep
`x-roles`, `x-service`, `tags` and `security` in flow style, as they are). Prints one line
per mismatch; exit 0 when all is well, 1 otherwise, 2 on a usage error.

Usage: proto/tools/check_openapi.py [--root DIR] [--spec FILE]
"""
import argparse
import glob
import json
import os
import re
import sys

try:
    import yaml
except ImportError:  # the route check still runs
    yaml = None

try:
    import jsonschema
except ImportError:
    jsonschema = None

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
problems = []


def problem(msg):
    problems.append(msg)
    print("  MISMATCH " + msg)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_c_comments(src):
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"(?m)^\s*//.*$", "", src)


# ---- the C side --------------------------------------------------------------------------------

def auth_roles(root):
    """AUTH_ROLE_* macro name → set of role names, from common/auth.h."""
    src = strip_c_comments(read(os.path.join(root, "common", "auth.h")))
    src = re.sub(r"\\\n", " ", src)  # join continued #define lines
    defs = dict(re.findall(r"(?m)^\s*#define\s+(AUTH_ROLE_\w+)\s+(.+)$", src))
    out = {}

    def resolve(name, depth=0):
        if name in out:
            return out[name]
        if depth > 10 or name not in defs:
            raise ValueError("unknown role macro " + name)
        body = defs[name].strip()
        m = re.fullmatch(r"CASEFSM_BIT\(\s*CASEFSM_ROLE_(\w+)\s*\)", body)
        if m:
            roles = {m.group(1).lower()}
        else:
            roles = set()
            for tok in re.findall(r"AUTH_ROLE_\w+", body):
                roles |= resolve(tok, depth + 1)
        out[name] = roles
        return roles

    for name in defs:
        resolve(name)
    return out


def eval_roles(expr, macros, local, depth=0):
    """The roles of a mask expression: AUTH_ROLE_* macros, and the file's own masks (local
    `unsigned` variables and #defines), which may themselves be built from one another."""
    expr = expr.strip()
    if re.fullmatch(r"\(?\s*0\s*\)?", expr):
        return set()
    if depth > 10:
        raise ValueError("role mask %r nests too deeply" % expr)
    roles = set()
    for tok in re.findall(r"[A-Za-z_]\w*", expr):
        if tok in macros:
            roles |= macros[tok]
        elif tok in local:
            roles |= eval_roles(local[tok], macros, local, depth + 1)
        else:
            raise ValueError("cannot resolve role mask %r in %r" % (tok, expr))
    return roles


def c_routes(root):
    """[(method, path, roles, service or None, file)] from the http_server_route calls.

    Every C file of a service counts (a service may register its routes from a file other
    than main.c, e.g. services/deadline-watcher/api.c)."""
    macros = auth_roles(root)
    files = sorted(glob.glob(os.path.join(root, "services", "*", "*.c")))
    files.append(os.path.join(root, "common", "daemon.c"))
    routes = []
    for path in files:
        src = strip_c_comments(read(path))
        if "http_server_route" not in src:
            continue
        local = dict(re.findall(r"\bunsigned(?:\s+int)?\s+(\w+)\s*=\s*([^;]+);", src))
        for name, body in re.findall(r"(?m)^\s*#define\s+(\w+)\s+(.*\bAUTH_ROLE_\w+.*)$", re.sub(r"\\\n", " ", src)):
            local.setdefault(name, body)
        rel = os.path.relpath(path, root)
        service = rel.split(os.sep)[1] if rel.startswith("services" + os.sep) else None
        calls = re.findall(r'http_server_route(?:_body)?\(\s*[^,]+,\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*([^,]+?)\s*,', src)
        if "http_server_route" in src and not calls:
            problem("%s: calls http_server_route in a form this script cannot read" % rel)
        for method, route, mask in calls:
            try:
                roles = eval_roles(mask, macros, local)
            except ValueError as e:
                problem("%s: %s %s: %s" % (rel, method, route, e))
                roles = None
            routes.append((method.lower(), route, roles, service, rel))
    return routes


def c_tables(root, relpath):
    """rv_field_t tables and string arrays of one C file."""
    src = strip_c_comments(read(os.path.join(root, relpath)))
    arrays = {}
    for name, body in re.findall(r"static\s+const\s+char\s*\*\s*const\s+(\w+)\[\]\s*=\s*\{([^}]*)\}", src):
        arrays[name] = re.findall(r'"([^"]*)"', body)
    tables = {}
    for name, body in re.findall(r"rv_field_t\s+(\w+)\[\]\s*=\s*\{(.*?)\n\};", src, flags=re.S):
        fields = []
        for fname, attrs in re.findall(r'\{\s*\.name\s*=\s*"([^"]+)"([^{}]*)\}', body):
            a = dict((k, v.strip()) for k, v in re.findall(r"\.(\w+)\s*=\s*([^,]+)", attrs))
            values = arrays.get(a["values"]) if "values" in a else None
            if "values" in a and values is None:
                problem("%s: %s.%s: cannot read the values array %s" % (relpath, name, fname, a["values"]))
            fields.append({
                "name": fname,
                "type": a.get("type", ""),
                "required": a.get("required") == "true",
                "min": int(a.get("min", "0")),
                "max": int(a.get("max", "0")),
                "single_line": a.get("single_line") == "true",
                "values": values,
                "fields": a.get("fields"),
                "items": a.get("items"),
            })
        tables[name] = fields
    return tables


def c_state_names(root, relpath, table):
    src = strip_c_comments(read(os.path.join(root, relpath)))
    m = re.search(r"\b%s\s*\[[^\]]*\]\s*=\s*\{(.*?)\n\};" % re.escape(table), src, flags=re.S)
    if not m:
        return None
    return re.findall(r'\[\s*\w+\s*\]\s*=\s*\{\s*"([^"]+)"', m.group(1))


# ---- the spec side ------------------------------------------------------------------------------

def load_spec_lines(path):
    """Without PyYAML: the operations of the `paths:` block, read line by line."""
    spec = {"paths": {}}
    in_paths = False
    cur_path = cur_op = None
    for line in read(path).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            in_paths = line.startswith("paths:")
            continue
        if not in_paths:
            continue
        m = re.match(r"^  (/\S*):\s*$", line)
        if m:
            cur_path = spec["paths"].setdefault(m.group(1), {})
            cur_op = None
            continue
        m = re.match(r"^    (%s):\s*$" % "|".join(METHODS), line)
        if m and cur_path is not None:
            cur_op = cur_path.setdefault(m.group(1), {})
            continue
        if indent <= 4:
            cur_op = None
            continue
        m = re.match(r"^      (x-roles|x-service|tags|security):\s*(.*)$", line)
        if m and cur_op is not None:
            key, val = m.group(1), m.group(2).strip()
            if val.startswith("["):
                inner = val.strip("[]").strip()
                cur_op[key] = [v.strip().strip("\"'") for v in inner.split(",")] if inner else []
            else:
                cur_op[key] = val.strip("\"'")
    return spec


def resolve(spec, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError("external $ref not supported: " + ref)
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
        if seen > 20:
            raise ValueError("$ref loop at " + ref)
    return node


# ---- 1. routes ------------------------------------------------------------------------------------

def check_routes(root, spec, yaml_loaded):
    routes = c_routes(root)
    ops = {}
    for path, item in (spec.get("paths") or {}).items():
        for method, op in item.items():
            if method in METHODS:
                ops[(method, path)] = op
    c_keys = {(m, p) for m, p, _, _, _ in routes}
    for method, path, roles, service, rel in routes:
        key = (method, path)
        op = ops.get(key)
        if op is None:
            problem("route %s %s (%s) is not in the spec" % (method.upper(), path, rel))
            continue
        where = "%s %s" % (method.upper(), path)
        xroles = op.get("x-roles")
        if xroles is None:
            problem("%s: no x-roles (C admits %s)" % (where, sorted(roles or []) or "everyone: public"))
        elif roles is not None and set(xroles) != roles:
            problem("%s: x-roles %s, but %s admits %s" % (where, sorted(xroles), rel, sorted(roles)))
        elif xroles is not None and len(set(xroles)) != len(xroles):
            problem("%s: x-roles lists a role twice" % where)
        public = roles is not None and not roles
        sec = op.get("security")
        if public and sec != []:
            problem("%s: public in C (role mask 0) but the spec does not say `security: []`" % where)
        if roles and sec == []:
            problem("%s: the spec says `security: []` but C requires a token" % where)
        tags = op.get("tags") or []
        if service:
            if op.get("x-service") != service:
                problem("%s: x-service is %r, the route is registered by services/%s" % (where, op.get("x-service"), service))
            if service not in tags:
                problem("%s: not tagged %r" % (where, service))
        else:
            if op.get("x-service") is not None:
                problem("%s: common route (every daemon) but x-service is %r" % (where, op.get("x-service")))
            if "operations" not in tags:
                problem("%s: common route (every daemon) but not tagged 'operations'" % where)
        if not yaml_loaded:
            continue
        # path parameters
        declared = set()
        for prm in op.get("parameters") or []:
            prm = resolve(spec, prm)
            if prm.get("in") == "path":
                declared.add(prm.get("name"))
        template = set(re.findall(r"\{(\w+)\}", path))
        if declared != template:
            problem("%s: path parameters declared %s, template has %s" % (where, sorted(declared), sorted(template)))
        # statuses every such route can give
        statuses = set(str(s) for s in (op.get("responses") or {}))
        need = {"400", "405", "411", "413", "431", "500"}  # 400: a malformed head, on any route
        if roles:
            need |= {"401", "503"}
            if roles != macros_any(root):
                need.add("403")
        if op.get("requestBody"):
            need |= {"400", "415"}
        if template:
            need.add("404")
        missing = sorted(need - statuses)
        if missing:
            problem("%s: responses %s not documented" % (where, ", ".join(missing)))
    for key in sorted(set(ops) - c_keys):
        problem("spec operation %s %s is not registered by any http_server_route call" % (key[0].upper(), key[1]))
    return len(routes), len(ops)


_any = None


def macros_any(root):
    global _any
    if _any is None:
        _any = auth_roles(root).get("AUTH_ROLE_ANY", set())
    return _any


# ---- 2. request tables ------------------------------------------------------------------------------

RV_TYPES = {"RV_STR": "string", "RV_BOOL": "boolean", "RV_INT": "integer", "RV_ARRAY": "array", "RV_OBJECT": "object"}


def walk(node, path="#"):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, path + "/" + str(k).replace("~", "~0").replace("/", "~1"))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, "%s/%d" % (path, i))


def check_string_pattern(where, f, p, required_pattern=True):
    pat = p.get("pattern")
    if pat is None:
        if required_pattern:
            problem("%s: reqval refuses control characters; give a pattern that does too" % where)
        return
    try:
        rx = re.compile(pat)
    except re.error as e:
        problem("%s: pattern does not compile: %s" % (where, e))
        return
    if rx.search("a\x01b") or rx.search("\x00"):
        problem("%s: pattern accepts control characters, reqval refuses them" % where)
    if f["single_line"]:
        if rx.search("a\tb") or rx.search("a\nb"):
            problem("%s: single-line in C, but the pattern accepts tab or line feed" % where)
    elif not rx.search("a\tb\nc\r"):
        problem("%s: multi-line in C (tab, LF, CR allowed), but the pattern refuses them" % where)


def check_table_schema(root, spec, where, schema, cache):
    ref = schema["x-c-table"]
    relpath, _, table = ref.partition("#")
    if relpath not in cache:
        try:
            cache[relpath] = c_tables(root, relpath)
        except OSError as e:
            problem("%s: x-c-table %s: %s" % (where, ref, e))
            cache[relpath] = {}
    fields = cache[relpath].get(table)
    if fields is None:
        problem("%s: x-c-table %s: no rv_field_t table %s in %s" % (where, ref, table, relpath))
        return
    omit = set(schema.get("x-c-table-omit") or [])
    props = schema.get("properties") or {}
    names = [f["name"] for f in fields if f["name"] not in omit]
    for n in sorted(set(names) - set(props)):
        problem("%s: C table %s has member %r, the schema does not" % (where, table, n))
    for n in sorted(set(props) - set(names)):
        problem("%s: member %r is not in the C table %s" % (where, n, table))
    if schema.get("additionalProperties") is not False:
        problem("%s: reqval refuses unknown members; set additionalProperties: false" % where)
    want_req = {f["name"] for f in fields if f["required"] and f["name"] not in omit}
    want_req |= set(schema.get("x-c-required-in-code") or [])
    if set(schema.get("required") or []) != want_req:
        problem("%s: required %s, C requires %s" % (where, sorted(schema.get("required") or []), sorted(want_req)))
    for f in fields:
        if f["name"] in omit or f["name"] not in props:
            continue
        fw = "%s.%s" % (where, f["name"])
        raw = props[f["name"]]
        p = resolve(spec, raw)
        typ = RV_TYPES.get(f["type"])
        if p.get("type") != typ:
            problem("%s: type %r, C says %s (%s)" % (fw, p.get("type"), f["type"], typ))
            continue
        optional = f["name"] not in want_req
        if optional and not p.get("nullable") and "$ref" not in raw:
            problem("%s: optional, and reqval takes null for absent; mark it nullable" % fw)
        if not optional and p.get("nullable"):
            problem("%s: required, and reqval refuses null; it must not be nullable" % fw)
        if f["type"] == "RV_STR":
            want_min = f["min"] if f["min"] > 0 else None
            want_max = f["max"] if f["max"] > 0 else None
            if p.get("minLength") != want_min:
                problem("%s: minLength %s, C min %s" % (fw, p.get("minLength"), want_min))
            if p.get("maxLength") != want_max:
                problem("%s: maxLength %s, C max %s" % (fw, p.get("maxLength"), want_max))
            enum = [v for v in (p.get("enum") or []) if v is not None]
            if f["values"] is not None:
                if enum != f["values"]:
                    problem("%s: enum %s, C allows %s" % (fw, enum, f["values"]))
            elif enum and "x-enum-source" not in p:
                problem("%s: enum in the spec, but the C table has no values and no x-enum-source says where they come from" % fw)
            if not enum and not p.get("x-normalised"):
                check_string_pattern(fw, f, p)
        elif f["type"] == "RV_INT":
            if p.get("minimum") != f["min"] or p.get("maximum") != f["max"]:
                problem("%s: range %s..%s, C %d..%d" % (fw, p.get("minimum"), p.get("maximum"), f["min"], f["max"]))
        elif f["type"] == "RV_ARRAY":
            if p.get("minItems", 0) != f["min"]:
                problem("%s: minItems %s, C min %d" % (fw, p.get("minItems", 0), f["min"]))
            if p.get("maxItems") != f["max"]:
                problem("%s: maxItems %s, C max %d" % (fw, p.get("maxItems"), f["max"]))
            items = resolve(spec, p.get("items") or {})
            if f["items"] == "RV_STR":
                # reqval gives string items 1..200 code points (common/reqval.c, rv_value)
                if items.get("type") != "string" or items.get("minLength") != 1 or items.get("maxLength") != 200:
                    problem("%s[]: string items of 1..200 characters in C" % fw)
                else:
                    check_string_pattern(fw + "[]", f, items)
            elif f["items"] == "RV_OBJECT":
                want = "%s#%s" % (relpath, f["fields"])
                if items.get("x-c-table") != want:
                    problem("%s[]: items should carry x-c-table %s" % (fw, want))
            else:
                problem("%s: array item type %s not understood" % (fw, f["items"]))
        elif f["type"] == "RV_OBJECT":
            want = "%s#%s" % (relpath, f["fields"])
            if p.get("x-c-table") != want:
                problem("%s: should carry x-c-table %s" % (fw, want))


def check_tables(root, spec):
    cache = {}
    n = 0
    for where, node in walk(spec):
        if "x-c-table" in node:
            n += 1
            check_table_schema(root, spec, where, node, cache)
    return n


# ---- 3. enumerations -----------------------------------------------------------------------------------

def json_pointer(doc, pointer):
    for part in [p for p in pointer.lstrip("/").split("/") if p]:
        doc = doc[part.replace("~1", "/").replace("~0", "~")]
    return doc


def check_enums(root, spec):
    n = 0
    for where, node in walk(spec):
        if "x-enum-source" in node:
            n += 1
            relpath, _, pointer = node["x-enum-source"].partition("#")
            try:
                src = json_pointer(json.loads(read(os.path.join(root, relpath))), pointer)
                want = src["enum"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                problem("%s: x-enum-source %s unreadable: %s" % (where, node["x-enum-source"], e))
                continue
            have = [v for v in node.get("enum") or [] if v is not None]
            if have != want:
                problem("%s: enum %s, the event contract (%s) has %s" % (where, have, node["x-enum-source"], want))
            if None in (node.get("enum") or []) and not node.get("nullable"):
                problem("%s: null in enum but not nullable" % where)
        if "x-c-enum" in node:
            n += 1
            relpath, _, table = node["x-c-enum"].partition("#")
            want = c_state_names(root, relpath, table)
            if want is None:
                problem("%s: x-c-enum %s: no table %s" % (where, node["x-c-enum"], table))
            elif node.get("enum") != want:
                problem("%s: enum %s, %s has %s" % (where, node.get("enum"), node["x-c-enum"], want))
    return n


# ---- 4. examples ---------------------------------------------------------------------------------------

def to_json_schema(spec, node, depth=0):
    """OpenAPI 3.0 schema → JSON Schema (draft 7): $refs inlined, nullable as a type union."""
    if depth > 50:
        raise ValueError("schema nesting too deep")
    node = resolve(spec, node)
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k.startswith("x-") or k in ("example", "examples", "nullable", "description", "format", "default"):
            continue
        if k in ("properties", "patternProperties"):
            out[k] = {pk: to_json_schema(spec, pv, depth + 1) for pk, pv in v.items()}
        elif k in ("items", "additionalProperties", "not") and isinstance(v, dict):
            out[k] = to_json_schema(spec, v, depth + 1)
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [to_json_schema(spec, s, depth + 1) for s in v]
        else:
            out[k] = v
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
    return out


def check_examples(spec):
    if jsonschema is None:
        print("  (python3-jsonschema not installed: examples not validated)")
        return 0
    n = 0
    for where, node in walk(spec):
        pairs = []
        if "schema" in node and isinstance(node["schema"], dict):
            if "example" in node:
                pairs.append((where + "/example", node["schema"], node["example"]))
            for name, ex in (node.get("examples") or {}).items():
                ex = resolve(spec, ex)
                if isinstance(ex, dict) and "value" in ex:
                    pairs.append(("%s/examples/%s" % (where, name), node["schema"], ex["value"]))
        elif "example" in node and ("type" in node or "$ref" in node) and "/examples/" not in where:
            pairs.append((where + "/example", node, node["example"]))
        for w, schema, value in pairs:
            n += 1
            try:
                js = to_json_schema(spec, schema)
                v = jsonschema.Draft7Validator(js)
                errs = sorted(v.iter_errors(value), key=lambda e: list(e.path))
            except (ValueError, KeyError, jsonschema.exceptions.SchemaError) as e:
                problem("%s: cannot check: %s" % (w, e))
                continue
            for e in errs[:3]:
                at = "/".join(str(x) for x in e.path) or "(top)"
                problem("%s: example does not match its schema at %s: %s" % (w, at, e.message[:200]))
    return n


# ---- main ------------------------------------------------------------------------------------------------

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.normpath(os.path.join(here, "..", "..")), help="repository root")
    ap.add_argument("--spec", default=None, help="the OpenAPI file (default ROOT/proto/openapi.yaml)")
    args = ap.parse_args()
    spec_path = args.spec or os.path.join(args.root, "proto", "openapi.yaml")
    if not os.path.isfile(spec_path) or not os.path.isdir(os.path.join(args.root, "services")):
        print("usage: check_openapi.py [--root DIR] [--spec FILE]: %s or %s/services missing" % (spec_path, args.root))
        return 2
    if yaml is not None:
        spec = yaml.safe_load(read(spec_path))
    else:
        print("  (PyYAML not installed: checking routes only, from a line-based reading of paths:)")
        spec = load_spec_lines(spec_path)
    print("routes (http_server_route in services/*/*.c, common/daemon.c) vs %s:" % os.path.relpath(spec_path, args.root))
    nroutes, nops = check_routes(args.root, spec, yaml is not None)
    print("  %d C routes, %d spec operations" % (nroutes, nops))
    if yaml is not None:
        print("request schemas vs the C validation tables (x-c-table):")
        print("  %d schemas checked" % check_tables(args.root, spec))
        print("enumerations vs the event contract and casefsm (x-enum-source, x-c-enum):")
        print("  %d enumerations checked" % check_enums(args.root, spec))
        print("examples vs their schemas:")
        print("  %d examples checked" % check_examples(spec))
    if problems:
        print("%d mismatch(es): proto/openapi.yaml and the C code disagree" % len(problems))
        return 1
    print("ok: proto/openapi.yaml matches the C code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
