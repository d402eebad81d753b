#!/usr/bin/env python3
"""Check schema/tflite.fbs against the flatc-generated Python schema in the
`ai_edge_litert` wheel (module ai_edge_litert.schema_py_generated).

Usage: python scripts/check_schema.py schema/tflite.fbs

For every table class in the wheel, each field accessor's vtable offset
(`self._tab.Offset(N)`, N = 4 + 2 * field id) must equal the offset of the
same-named field in our table.  Field ids count deprecated fields, and a
union field `x` takes two ids: the hidden `x_type` (ubyte) and then `x`.
The wheel's builder functions (`<Table>Add<Field>(builder, v)` calling
`builder.Prepend<Kind>Slot(id, v, default)`) are also checked for the slot
id, the storage kind and the scalar default, and `<Table>Start<Field>Vector`
for the vector element size (flatc's Python output ignores force_align, so
alignment cannot be checked).

Every enum and union class in the wheel must have the same name -> value
mapping in ours (a union's NONE is 0 and member k is k + 1).

Ours may have more tables, fields and values than the wheel; anything in the
wheel that is missing or different in ours is an error.
"""

import inspect
import re
import sys

# --------------------------------------------------------------------------
# .fbs parsing
# --------------------------------------------------------------------------

SCALARS = {
    "bool": "Bool",
    "byte": "Int8", "int8": "Int8",
    "ubyte": "Uint8", "uint8": "Uint8",
    "short": "Int16", "int16": "Int16",
    "ushort": "Uint16", "uint16": "Uint16",
    "int": "Int32", "int32": "Int32",
    "uint": "Uint32", "uint32": "Uint32",
    "long": "Int64", "int64": "Int64",
    "ulong": "Uint64", "uint64": "Uint64",
    "float": "Float32", "float32": "Float32",
    "double": "Float64", "float64": "Float64",
}

SIZES = {"Bool": 1, "Int8": 1, "Uint8": 1, "Int16": 2, "Uint16": 2,
         "Int32": 4, "Uint32": 4, "Int64": 8, "Uint64": 8,
         "Float32": 4, "Float64": 8}

TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[{}()\[\]:;,=])
    """,
    re.VERBOSE | re.DOTALL,
)


class FbsError(Exception):
    pass


def tokenize(text):
    pos = 0
    line = 1
    out = []
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if not m:
            raise FbsError("line %d: unexpected character %r" % (line, text[pos]))
        kind = m.lastgroup
        val = m.group(kind)
        if kind not in ("ws", "comment"):
            out.append((kind, val, line))
        line += val.count("\n")
        pos = m.end()
    return out


class Parser:
    def __init__(self, tokens):
        self.toks = tokens
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None, -1)

    def next(self):
        tok = self.peek()
        if tok[0] is None:
            raise FbsError("unexpected end of file")
        self.i += 1
        return tok

    def expect(self, val):
        tok = self.next()
        if tok[1] != val:
            raise FbsError("line %d: expected %r, got %r" % (tok[2], val, tok[1]))
        return tok

    def accept(self, val):
        if self.peek()[1] == val:
            self.i += 1
            return True
        return False

    def ident(self):
        tok = self.next()
        if tok[0] != "ident":
            raise FbsError("line %d: expected a name, got %r" % (tok[2], tok[1]))
        return tok[1]

    def metadata(self):
        """Parses an optional `( name [: value], ... )` list."""
        attrs = {}
        if not self.accept("("):
            return attrs
        while not self.accept(")"):
            name = self.ident()
            value = None
            if self.accept(":"):
                value = self.next()[1]
            attrs[name] = value
            self.accept(",")
        return attrs

    def parse(self):
        schema = {"enums": {}, "unions": {}, "tables": {}, "order": []}
        while self.peek()[0] is not None:
            kw = self.ident()
            if kw in ("namespace", "root_type"):
                self.ident()
                self.expect(";")
            elif kw in ("file_identifier", "file_extension", "attribute"):
                self.next()
                self.expect(";")
            elif kw == "enum":
                name = self.ident()
                self.expect(":")
                base = self.ident()
                self.metadata()
                self.expect("{")
                values = {}
                nxt = 0
                while not self.accept("}"):
                    vname = self.ident()
                    if self.accept("="):
                        nxt = int(self.next()[1], 0)
                    values[vname] = nxt
                    nxt += 1
                    self.metadata()
                    if not self.accept(","):
                        self.expect("}")
                        break
                schema["enums"][name] = {"base": base, "values": values}
            elif kw == "union":
                name = self.ident()
                self.metadata()
                self.expect("{")
                members = []
                while not self.accept("}"):
                    members.append(self.ident())
                    self.metadata()
                    if not self.accept(","):
                        self.expect("}")
                        break
                schema["unions"][name] = members
            elif kw == "table":
                name = self.ident()
                self.metadata()
                self.expect("{")
                fields = []
                while not self.accept("}"):
                    fname = self.ident()
                    self.expect(":")
                    if self.accept("["):
                        ftype = ("vector", self.ident())
                        self.expect("]")
                    else:
                        ftype = ("single", self.ident())
                    default = None
                    if self.accept("="):
                        default = self.next()[1]
                    attrs = self.metadata()
                    self.expect(";")
                    fields.append({"name": fname, "type": ftype,
                                   "default": default, "attrs": attrs})
                if name in schema["tables"]:
                    raise FbsError("table %s defined twice" % name)
                schema["tables"][name] = fields
            else:
                raise FbsError("unsupported declaration %r" % kw)
        return schema


def layout(schema, fields):
    """Returns {normalized name: (id, kind, default, fbs name)} for a table."""
    out = {}
    fid = 0
    for f in fields:
        kind_, tname = f["type"]
        if kind_ == "single" and tname in schema["unions"]:
            tname_ = f["name"] + "_type"
            out[norm(tname_)] = (fid, "Uint8", 0, tname_)
            fid += 1
            out[norm(f["name"])] = (fid, "UOffsetTRelative", None, f["name"])
        elif kind_ == "single" and tname in SCALARS:
            out[norm(f["name"])] = (fid, SCALARS[tname],
                                    scalar_default(f["default"], None, schema),
                                    f["name"])
        elif kind_ == "single" and tname in schema["enums"]:
            base = schema["enums"][tname]["base"]
            out[norm(f["name"])] = (fid, SCALARS[base],
                                    scalar_default(f["default"], tname, schema),
                                    f["name"])
        else:
            out[norm(f["name"])] = (fid, "UOffsetTRelative", None, f["name"])
        fid += 1
    return out


def vector_layout(schema, fields):
    """Returns {normalized name: (element size, alignment)} for vector fields."""
    out = {}
    for f in fields:
        kind_, tname = f["type"]
        if kind_ != "vector":
            continue
        if tname in SCALARS:
            size = SIZES[SCALARS[tname]]
        elif tname in schema["enums"]:
            size = SIZES[SCALARS[schema["enums"][tname]["base"]]]
        else:
            size = 4  # offsets to strings / tables
        align = max(size, int(f["attrs"].get("force_align") or 0))
        out[norm(f["name"])] = (size, align)
    return out


def scalar_default(text, enum_name, schema):
    if text is None:
        return 0
    if text == "true":
        return 1
    if text == "false":
        return 0
    if enum_name is not None and text in schema["enums"][enum_name]["values"]:
        return schema["enums"][enum_name]["values"][text]
    try:
        return int(text, 0)
    except ValueError:
        return float(text)


def norm(name):
    return name.replace("_", "").lower()


def type_problems(schema):
    """Every field type must be a scalar, string, enum, union or table."""
    known = set(SCALARS) | {"string"} | set(schema["enums"]) | \
        set(schema["unions"]) | set(schema["tables"])
    errs = []
    for tname, fields in schema["tables"].items():
        for f in fields:
            if f["type"][1] not in known:
                errs.append("ours: %s.%s has unknown type %s"
                            % (tname, f["name"], f["type"][1]))
    for uname, members in schema["unions"].items():
        for m in members:
            if m not in schema["tables"]:
                errs.append("ours: union %s member %s is not a table" % (uname, m))
    return errs


# --------------------------------------------------------------------------
# Wheel inspection
# --------------------------------------------------------------------------

OFFSET_RE = re.compile(r"self\._tab\.Offset\((\d+)\)")
VEC_RE = re.compile(r"builder\.StartVector\((\d+),\s*numElems,\s*(\d+)\)")
SLOT_RE = re.compile(r"builder\.Prepend(\w+?)Slot\((\d+),\s*(.+),\s*([^,()]+)\)\s*$",
                     re.MULTILINE)
ACCESSOR_SUFFIXES = ("AsNumpy", "Length", "IsNone")


def wheel_items(mod):
    tables, enums, adders = {}, {}, {}
    for name, obj in vars(mod).items():
        if inspect.isclass(obj) and obj.__module__ == mod.__name__:
            if hasattr(obj, "Init") and "_tab" in getattr(obj, "__slots__", ()):
                tables[name] = obj
            elif not any(inspect.isfunction(v) or isinstance(v, (classmethod, staticmethod))
                         for v in vars(obj).values()):
                vals = {k: v for k, v in vars(obj).items()
                        if not k.startswith("__") and isinstance(v, int)}
                if vals:
                    enums[name] = vals
        elif inspect.isfunction(obj) and obj.__module__ == mod.__name__:
            adders[name] = obj
    return tables, enums, adders


def main(argv):
    if len(argv) != 2:
        print("usage: check_schema.py schema/tflite.fbs", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as fh:
        try:
            schema = Parser(tokenize(fh.read())).parse()
        except FbsError as e:
            print("parse error: %s" % e)
            return 1

    try:
        import ai_edge_litert.schema_py_generated as gen
    except ImportError as e:
        print("cannot import ai_edge_litert.schema_py_generated: %s" % e)
        return 1

    errors = type_problems(schema)
    tables, enums, funcs = wheel_items(gen)
    n_tables = n_fields = n_enums = n_values = n_vectors = 0

    for tname in sorted(tables):
        cls = tables[tname]
        if tname not in schema["tables"]:
            errors.append("table %s: missing in ours" % tname)
            continue
        n_tables += 1
        ours = layout(schema, schema["tables"][tname])
        seen = {}
        for mname, meth in vars(cls).items():
            if not inspect.isfunction(meth):
                continue
            offsets = set(OFFSET_RE.findall(inspect.getsource(meth)))
            if not offsets:
                continue
            if len(offsets) != 1:
                errors.append("%s.%s: several offsets %s" % (tname, mname, sorted(offsets)))
                continue
            off = int(offsets.pop())
            field = mname
            if norm(field) not in ours:
                for suf in ACCESSOR_SUFFIXES:
                    if field.endswith(suf) and norm(field[:-len(suf)]) in ours:
                        field = field[:-len(suf)]
                        break
            key = norm(field)
            if key not in ours:
                errors.append("%s.%s (offset %d): no such field in ours" % (tname, mname, off))
                continue
            fid, _, _, fbs_name = ours[key]
            if off != 4 + 2 * fid:
                errors.append("%s.%s: wheel offset %d, ours %d (field %s id %d)"
                              % (tname, mname, off, 4 + 2 * fid, fbs_name, fid))
            if seen.setdefault(key, off) != off:
                errors.append("%s.%s: inconsistent offsets in wheel" % (tname, mname))
        n_fields += len(seen)

        # Builder functions: slot id, storage kind and default.
        prefix = tname + "Add"
        for fname, fn in funcs.items():
            if not fname.startswith(prefix):
                continue
            m = SLOT_RE.search(inspect.getsource(fn))
            if not m:
                continue
            kind, slot, _, default = m.group(1), int(m.group(2)), m.group(3), m.group(4)
            key = norm(fname[len(prefix):])
            if key not in ours:
                errors.append("%s: builder field %s missing in ours" % (tname, fname))
                continue
            fid, okind, odefault, fbs_name = ours[key]
            if key not in seen:
                n_fields += 1
                seen[key] = 4 + 2 * slot
            if slot != fid:
                errors.append("%s.%s: wheel slot %d, ours %d" % (tname, fbs_name, slot, fid))
            if kind != okind:
                errors.append("%s.%s: wheel stores %s, ours %s" % (tname, fbs_name, kind, okind))
            if okind != "UOffsetTRelative":
                wdef = {"True": 1, "False": 0}.get(default.strip())
                if wdef is None:
                    wdef = float(default) if "." in default or "e" in default.lower() \
                        else int(default)
                if float(wdef) != float(odefault):
                    errors.append("%s.%s: wheel default %s, ours %s"
                                  % (tname, fbs_name, default.strip(), odefault))

        # Vector starters: element size and alignment (force_align).
        vecs = vector_layout(schema, schema["tables"][tname])
        prefix = tname + "Start"
        for fname, fn in funcs.items():
            if not (fname.startswith(prefix) and fname.endswith("Vector")):
                continue
            m = VEC_RE.search(inspect.getsource(fn))
            if not m:
                continue
            key = norm(fname[len(prefix):-len("Vector")])
            if key not in vecs:
                errors.append("%s: %s has no vector field in ours" % (tname, fname))
                continue
            # flatc's Python generator ignores force_align, so only the
            # element size can be compared.
            wsize = int(m.group(1))
            if wsize != vecs[key][0]:
                errors.append("%s: %s element size %d in wheel, %d in ours"
                              % (tname, fname, wsize, vecs[key][0]))
            n_vectors += 1

    for ename in sorted(enums):
        wvals = enums[ename]
        if ename in schema["enums"]:
            ovals = schema["enums"][ename]["values"]
        elif ename in schema["unions"]:
            ovals = {"NONE": 0}
            ovals.update({m: i + 1 for i, m in enumerate(schema["unions"][ename])})
        else:
            errors.append("enum %s: missing in ours" % ename)
            continue
        n_enums += 1
        for k, v in sorted(wvals.items(), key=lambda kv: kv[1]):
            n_values += 1
            if k not in ovals:
                errors.append("enum %s: %s = %d missing in ours" % (ename, k, v))
            elif ovals[k] != v:
                errors.append("enum %s: %s is %d in wheel, %d in ours"
                              % (ename, k, v, ovals[k]))

    if errors:
        for e in errors:
            print(e)
        print("schema FAILED: %d mismatches" % len(errors))
        return 1
    print("schema ok: %d tables, %d fields (%d vectors), %d enums/unions (%d values) "
          "checked; ours has %d tables, %d enums, %d unions"
          % (n_tables, n_fields, n_vectors, n_enums, n_values, len(schema["tables"]),
             len(schema["enums"]), len(schema["unions"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
