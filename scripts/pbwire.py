"""Protobuf wire format without a schema, for scripts/mutate.py: parse a message into nested
fields (a length-delimited field that parses as a message is treated as one), rewrite one field,
serialize it again. Enough to make structured corruptions of GraphDefs and SavedModels."""


def read_varint(b, i):
    v, shift = 0, 0
    while True:
        if i >= len(b) or shift > 63:
            raise ValueError("bad varint")
        x = b[i]
        i += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if x < 0x80:
            return v, i


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        x = v & 0x7F
        v >>= 7
        if v:
            out.append(x | 0x80)
        else:
            out.append(x)
            return bytes(out)


def parse(b, depth=0):
    """A list of [field, wiretype, value]; value is bytes, int, or a nested list for a
    length-delimited field that parses as a message. Raises ValueError if b is not one."""
    fields, i = [], 0
    while i < len(b):
        key, i = read_varint(b, i)
        f, wt = key >> 3, key & 7
        if f == 0:
            raise ValueError("field 0")
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 2:
            n, i = read_varint(b, i)
            if i + n > len(b):
                raise ValueError("length")
            raw = b[i:i + n]
            i += n
            v = raw
            if depth < 12 and n and not all(32 <= x < 127 for x in raw):
                try:
                    v = parse(raw, depth + 1)
                except ValueError:
                    v = raw
        else:
            raise ValueError("wire type")
        fields.append([f, wt, v])
    if i != len(b):
        raise ValueError("trailing")
    return fields


def serialize(fields):
    out = bytearray()
    for f, wt, v in fields:
        out += varint(f << 3 | wt)
        if wt == 0:
            out += varint(v)
        elif wt == 2:
            raw = serialize(v) if isinstance(v, list) else v
            out += varint(len(raw)) + raw
        else:
            out += v
    return bytes(out)


def leaves(fields, path=()):
    for k, fld in enumerate(fields):
        yield path + (k,), fld
        if isinstance(fld[2], list):
            yield from leaves(fld[2], path + (k,))


def at(fields, path):
    fld = None
    for k in path:
        fld = fields[k]
        fields = fld[2] if isinstance(fld[2], list) else None
    return fld


OP_NAMES = [b"Conv2D", b"Reshape", b"MatMul", b"Const", b"Placeholder", b"Pack", b"Fill", b"ConcatV2", b"While",
            b"NoSuchOp", b"Identity", b"Pad", b"ResizeBilinear", b"StridedSlice", b"Tile"]


def pb_mutations(blob, rnd, count):
    """`count` single-field corruptions of a serialized message: (what, bytes)."""
    tree = parse(blob)
    all_leaves = list(leaves(tree))
    ints = [p for p, f in all_leaves if f[1] == 0]
    strs = [p for p, f in all_leaves if f[1] == 2 and not isinstance(f[2], list)]
    msgs = [p for p, f in all_leaves if f[1] == 2 and isinstance(f[2], list)]
    out = []
    kinds = ["int", "int", "int", "str", "drop", "dup", "trunc", "opname"]
    while len(out) < count:
        kind = rnd.choice(kinds)
        t = parse(blob)
        try:
            if kind == "int" and ints:
                p = rnd.choice(ints)
                v = rnd.choice([0, 1, 2, 3, 9, 19, 23, 100, 1 << 31, (1 << 31) - 1, 1 << 40, (1 << 64) - 1, (1 << 64) - 5,
                                (1 << 63), 268435456, 46341])
                at(t, p)[2] = v
                what = "varint at %s = %d" % (p, v)
            elif kind == "str" and strs:
                p = rnd.choice(strs)
                v = rnd.choice([b"", b"\xff\xfe", b"x" * 5000, at(t, p)[2][:1], at(t, p)[2] + b":9"])
                at(t, p)[2] = v
                what = "bytes at %s replaced (%d bytes)" % (p, len(v))
            elif kind == "opname" and strs:
                p = rnd.choice(strs)
                v = rnd.choice(OP_NAMES)
                at(t, p)[2] = v
                what = "bytes at %s = %s" % (p, v.decode())
            elif kind in ("drop", "dup") and msgs:
                p = rnd.choice(msgs + ints)
                parent = t
                for k in p[:-1]:
                    parent = parent[k][2]
                if kind == "drop":
                    del parent[p[-1]]
                    what = "field at %s dropped" % (p,)
                else:
                    parent.insert(p[-1], copy_field(parent[p[-1]]))
                    what = "field at %s doubled" % (p,)
            elif kind == "trunc":
                n = rnd.randrange(1, len(blob))
                out.append(("truncated to %d bytes" % n, blob[:n]))
                continue
            else:
                continue
            out.append((what, serialize(t)))
        except (IndexError, TypeError):
            continue
    return out


def copy_field(f):
    return [f[0], f[1], [copy_field(x) for x in f[2]] if isinstance(f[2], list) else f[2]]


