"""Fold an exported graph's shape arithmetic and layout chains (issue 31).

torch.onnx.export writes every `x.view(b, n, heads, -1)` and window
partition as Shape -> Gather -> Cast -> Div -> Unsqueeze -> Concat ->
Reshape, even where the shape is static, and head splits around the fused
attention as Reshape/Transpose pairs that undo each other. ONNX Runtime
folds most of that again at every session start on the CPU; other runtimes
and the GPU providers (which place shape nodes on the host) pay for it at
run time. This pass does it once at export:

- shape arithmetic on small tensors whose inputs are constant, including
  Shape (and Gather / Slice of a Shape) of dimensions that are static;
- a Reshape target whose dynamic entries copy the input's own dimension
  (same symbolic dimension at the same place) becomes a constant with 0
  there, which ONNX Reshape reads as "keep this dimension";
- Transpose of a Transpose composes (and disappears when the result is the
  identity), Reshape of a Reshape keeps the outer one, a Reshape to the
  shape its input already has and Identity disappear;
- then dead nodes and unused initializers go.

The exporter runs it on every graph (export.py --no-fold skips it); run as
a program it folds a package exported before, in place, and rewrites the
manifest's file hashes:

    /usr/bin/python3 tools/export/fold.py models/sam2.1_hiera_t

Values are unchanged: nothing is reordered or approximated (the exporter's
self-check against PyTorch runs on the folded graphs). Tensors above
MAX_CONST elements are never folded, so the exporter's choice not to bake
the RoPE tables and large weights into constants holds.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

MAX_CONST = 4096

# Ops evaluated here, on small constant inputs.
_EVAL = {
    "Identity", "Cast", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Add", "Sub", "Mul",
    "Div", "Mod", "Neg", "Abs", "Floor", "Ceil", "Sqrt", "Pow", "Min", "Max", "Equal", "Less",
    "Greater", "Not", "And", "Or", "Where", "Slice", "Range", "Reshape", "Transpose", "Expand",
    "ConstantOfShape", "ReduceProd", "Flatten",
}


# Float ops whose numpy result may differ from ONNX Runtime's in the last
# bit (not correctly rounded, or accumulated differently): left to the
# runtime, so that folding never changes a value.
_INEXACT = {"Pow", "Range", "ReduceProd"}


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _np_dtype(onnx_type):
    if hasattr(helper, "tensor_dtype_to_np_dtype"):  # onnx >= 1.13
        return helper.tensor_dtype_to_np_dtype(onnx_type)
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[onnx_type]


def _int_div(a, b):
    # ONNX integer Div truncates toward zero (C semantics); numpy floors.
    q = np.abs(a) // np.abs(b)
    return (np.sign(a) * np.sign(b) * q).astype(np.result_type(a, b))


def _evaluate(node, ins):
    """The output of node on numpy inputs (None for an absent optional input),
    or None when this pass does not evaluate it."""
    op, at = node.op_type, _attrs(node)
    x = ins[0] if ins else None
    if op == "Identity":
        return x
    if op == "Cast":
        return x.astype(_np_dtype(at["to"]))
    if op == "Gather":
        return np.take(x, ins[1], axis=at.get("axis", 0))
    if op == "Unsqueeze":
        out = x
        axes = sorted(int(a) % (x.ndim + len(ins[1])) for a in ins[1])
        for a in axes:
            out = np.expand_dims(out, a)
        return out
    if op == "Squeeze":
        if len(ins) > 1 and ins[1] is not None:
            return np.squeeze(x, axis=tuple(int(a) for a in ins[1]))
        return np.squeeze(x)
    if op == "Concat":
        return np.concatenate(ins, axis=at["axis"])
    if op in ("Add", "Sub", "Mul", "Min", "Max", "Pow", "Equal", "Less", "Greater", "And", "Or"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Min": np.minimum,
             "Max": np.maximum, "Pow": np.power, "Equal": np.equal, "Less": np.less,
             "Greater": np.greater, "And": np.logical_and, "Or": np.logical_or}[op]
        out = ins[0]
        for y in ins[1:]:
            out = f(out, y)
        if op in ("Add", "Sub", "Mul", "Min", "Max", "Pow"):
            out = out.astype(x.dtype)
        return out
    if op == "Div":
        if np.issubdtype(x.dtype, np.integer):
            return _int_div(x, ins[1])
        return (x / ins[1]).astype(x.dtype)
    if op == "Mod":
        if at.get("fmod", 0):
            return np.fmod(x, ins[1]).astype(x.dtype)
        return np.mod(x, ins[1]).astype(x.dtype)
    if op in ("Neg", "Abs", "Floor", "Ceil", "Sqrt", "Not"):
        f = {"Neg": np.negative, "Abs": np.abs, "Floor": np.floor, "Ceil": np.ceil,
             "Sqrt": np.sqrt, "Not": np.logical_not}[op]
        return f(x).astype(x.dtype)
    if op == "Where":
        return np.where(ins[0], ins[1], ins[2])
    if op == "Slice":
        starts, ends = ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        sl = [slice(None)] * x.ndim
        for s, e, a, st in zip(starts, ends, axes, steps):
            sl[int(a)] = slice(int(s), int(e), int(st))
        return x[tuple(sl)]
    if op == "Range":
        return np.arange(ins[0], ins[1], ins[2]).astype(x.dtype)
    if op == "Reshape":
        shape = [int(d) for d in ins[1]]
        if not at.get("allowzero", 0):
            shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
        return x.reshape(shape)
    if op == "Transpose":
        return np.transpose(x, at.get("perm"))
    if op == "Expand":
        return x * np.ones(tuple(int(d) for d in ins[1]), dtype=x.dtype)
    if op == "ConstantOfShape":
        v = at.get("value")
        v = numpy_helper.to_array(v) if v is not None else np.zeros(1, np.float32)
        return np.full(tuple(int(d) for d in x), v.reshape(-1)[0], dtype=v.dtype)
    if op == "ReduceProd":
        axes = at.get("axes")
        return np.prod(x, axis=tuple(axes) if axes else None,
                       keepdims=bool(at.get("keepdims", 1))).astype(x.dtype)
    if op == "Flatten":
        a = at.get("axis", 1) % max(x.ndim, 1)
        return x.reshape(int(np.prod(x.shape[:a])), -1)
    return None


class _Graph:
    """A graph's nodes with producer/consumer maps and static shapes."""

    def __init__(self, model):
        self.model = model
        g = model.graph
        self.outputs = {o.name for o in g.output}
        self.inits = {t.name: t for t in g.initializer}
        self.producer = {}
        self.consumers = collections.defaultdict(list)
        for n in g.node:
            for o in n.output:
                self.producer[o] = n
            for i in n.input:
                if i:
                    self.consumers[i].append(n)
        self.shapes = {}
        inferred = _infer(model)
        for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
            t = vi.type.tensor_type
            if t.HasField("shape"):
                self.shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else
                                        (d.dim_param or None) for d in t.shape.dim]
        for t in g.initializer:
            self.shapes[t.name] = list(t.dims)

    def static_shape(self, name):
        s = self.shapes.get(name)
        if s is None or any(not isinstance(d, int) for d in s):
            return None
        return s


def _infer(model):
    """onnx shape inference, with the output shape of com.microsoft
    MultiHeadAttention filled in (onnx does not know the op): [B, S, v width]
    from the query and value, rounds until nothing more is learned."""
    m = _shapes_only(model)
    known = set()
    for _ in range(64):
        try:
            # Data propagation follows Shape -> Gather -> Concat into Reshape
            # targets; onnx 1.12 fails on some graphs with it.
            m = shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
        except Exception:
            m = shape_inference.infer_shapes(m, strict_mode=False)
        shapes = {vi.name: vi for vi in list(m.graph.value_info) + list(m.graph.input)}
        added = False
        for n in m.graph.node:
            if n.op_type != "MultiHeadAttention" or n.output[0] in known:
                continue
            q, v = shapes.get(n.input[0]), shapes.get(n.input[2]) if len(n.input) > 2 else None
            if q is None or v is None:
                continue
            qd, vd = q.type.tensor_type.shape.dim, v.type.tensor_type.shape.dim
            if len(qd) != 3 or len(vd) != 3:
                continue
            dims = [qd[0], qd[1], vd[2]]
            vi = helper.make_tensor_value_info(
                n.output[0], q.type.tensor_type.elem_type,
                [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims])
            m.graph.value_info.append(vi)
            known.add(n.output[0])
            added = True
        if not added:
            return m
    return m


def _shapes_only(model):
    """A copy of model for shape inference: large initializers become graph
    inputs of their shape, so that each inference round does not serialize
    the weights."""
    m = onnx.ModelProto()
    m.ir_version = model.ir_version
    m.opset_import.extend(model.opset_import)
    g = m.graph
    g.node.extend(model.graph.node)
    g.input.extend(model.graph.input)
    g.output.extend(model.graph.output)
    for t in model.graph.initializer:
        if int(np.prod(t.dims)) > MAX_CONST:
            g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            g.initializer.append(t)
    return m


def _const(g, name):
    t = g.inits.get(name)
    if t is None:
        return None
    n = int(np.prod(t.dims)) if t.dims else 1
    if n > MAX_CONST:
        return None
    return numpy_helper.to_array(t)


def _fold_constants(model):
    """One pass of constant folding; returns how many nodes it replaced."""
    g = _Graph(model)
    keep, new_inits, folded = [], [], 0
    consts = {}

    def value(name):
        if name in consts:
            return consts[name]
        return _const(g, name)

    for n in model.graph.node:
        out = None
        if n.op_type == "Constant" and not any(o in g.outputs for o in n.output):
            at = n.attribute[0]
            if at.name == "value":
                out = numpy_helper.to_array(at.t)
            elif at.name in ("value_int", "value_ints", "value_float", "value_floats"):
                v = helper.get_attribute_value(at)
                out = np.array(v, dtype=np.int64 if "int" in at.name else np.float32)
            if out is not None and out.size > MAX_CONST:
                out = None
        elif n.op_type == "Shape":
            s = g.shapes.get(n.input[0])
            if s is not None:
                at = _attrs(n)
                lo, hi = at.get("start", 0), at.get("end", None)
                part = s[lo:hi] if hi is not None else s[lo:]
                if all(isinstance(d, int) for d in part):
                    out = np.array(part, dtype=np.int64)
        elif n.op_type in ("Gather", "Slice") and n.input[0] in g.producer \
                and g.producer[n.input[0]].op_type == "Shape" and value(n.input[0]) is None:
            # Static entries of a partly dynamic shape.
            sh = g.producer[n.input[0]]
            s = g.shapes.get(sh.input[0])
            idx = [value(i) if i else None for i in n.input[1:]]
            # Every index input given must be constant (an absent optional one is "").
            given = all(v is not None for v, i in zip(idx, n.input[1:]) if i)
            if s is not None and not _attrs(sh) and given:
                dims = np.arange(len(s), dtype=np.int64)
                picked = _evaluate(n, [dims] + idx)
                if picked is not None and all(isinstance(s[int(i)], int) for i in np.ravel(picked)):
                    out = np.vectorize(lambda i: s[int(i)], otypes=[np.int64])(picked) \
                        if picked.size else picked
                    out = np.asarray(out, dtype=np.int64)
        elif n.op_type in _EVAL and not any(o in g.outputs for o in n.output):
            ins = [value(i) if i else None for i in n.input]
            floats = any(v is not None and np.issubdtype(v.dtype, np.floating) for v in ins)
            inexact = n.op_type in _INEXACT and floats
            # A stored weight's Cast (fp16 storage, the fixtures') stays: folded,
            # the weight would be stored at the wider type.
            stored = n.op_type == "Cast" and n.input[0] in g.inits and floats
            if not (inexact or stored) and all(v is not None for v, i in zip(ins, n.input) if i):
                try:
                    out = _evaluate(n, ins)
                except Exception:  # an op form this pass does not know: leave it
                    out = None
                if out is not None and np.asarray(out).size > MAX_CONST:
                    out = None
        if out is not None and len(n.output) == 1 and n.output[0] not in g.outputs:
            out = np.asarray(out)
            consts[n.output[0]] = out
            new_inits.append(numpy_helper.from_array(out, n.output[0]))
            folded += 1
            continue
        keep.append(n)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    model.graph.initializer.extend(new_inits)
    return folded


def _copy_dims(model):
    """Reshape(x, Concat(..., Unsqueeze(Gather(Shape(y), i)), ...)) where the
    gathered dimension is x's own dimension at the same place: a 0 there.
    Returns how many shape entries it replaced."""
    g = _Graph(model)
    done = 0
    for n in model.graph.node:
        if n.op_type != "Reshape" or _attrs(n).get("allowzero", 0):
            continue
        cat = g.producer.get(n.input[1])
        xs = g.shapes.get(n.input[0])
        if cat is None or cat.op_type != "Concat" or xs is None or len(g.consumers[cat.output[0]]) != 1:
            continue
        parts, changed, pos = list(cat.input), False, 0
        for k, p in enumerate(parts):
            c = _const(g, p)
            if c is not None:
                pos += c.size
                continue
            ps = g.static_shape(p)
            if ps is None or int(np.prod(ps)) != 1:
                break  # an entry of unknown length: later places are unknown
            u = g.producer.get(p)
            ga = g.producer.get(u.input[0]) if u is not None and u.op_type == "Unsqueeze" else None
            if ga is not None and ga.op_type != "Gather":
                ga = None
            sh = g.producer.get(ga.input[0]) if ga is not None else None
            idx = _const(g, ga.input[1]) if ga is not None else None
            if (sh is not None and sh.op_type == "Shape" and not _attrs(sh) and idx is not None
                    and idx.size == 1 and pos < len(xs)):
                ys, i = g.shapes.get(sh.input[0]), int(idx.reshape(-1)[0])
                same = sh.input[0] == n.input[0] and i == pos
                if ys is not None and i < len(ys) and isinstance(ys[i], str) and ys[i] == xs[pos]:
                    same = True
                if same:
                    name = f"{cat.output[0]}_keep{pos}"
                    model.graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), name))
                    g.inits[name] = model.graph.initializer[-1]
                    parts[k] = name
                    changed = True
            pos += 1
        if changed:
            del cat.input[:]
            cat.input.extend(parts)
            done += 1
    return done


def _chains(model):
    """Transpose/Reshape chains and identities; returns nodes removed."""
    g = _Graph(model)
    removed = set()
    for n in model.graph.node:
        if id(n) in removed:
            continue
        src = g.producer.get(n.input[0]) if n.input else None
        single = src is not None and len(g.consumers[src.output[0]]) == 1 \
            and src.output[0] not in g.outputs and id(src) not in removed
        if n.op_type == "Transpose" and n.input[0] in g.inits and n.output[0] not in g.outputs:
            # A weight's Transpose: the weight stored transposed (a copy
            # when something else reads it as it is).
            _transpose_init(model, g, n)
            removed.add(id(n))
        elif n.op_type == "Transpose" and src is not None and src.op_type == "Cast" \
                and src.input[0] in g.inits and n.output[0] not in g.outputs:
            # The same under a Cast (weights stored as fp16 + Cast): the
            # Transpose becomes a Cast of the transposed weight.
            _transpose_init(model, g, n, cast=src)
        elif n.op_type == "Transpose" and single and src.op_type == "Transpose":
            p1, p2 = _attrs(src).get("perm"), _attrs(n).get("perm")
            if p1 is None or p2 is None:
                continue
            perm = [p1[i] for i in p2]
            del n.attribute[:]
            n.attribute.append(helper.make_attribute("perm", perm))
            n.input[0] = src.input[0]
            removed.add(id(src))
        elif n.op_type == "Reshape" and single and src.op_type in ("Reshape", "Squeeze", "Unsqueeze", "Flatten"):
            shape = _const(g, n.input[1])
            if shape is None or _attrs(n).get("allowzero", 0):
                continue
            if (shape == 0).any():
                inner = g.static_shape(src.output[0])
                if inner is None:
                    continue
                shape = np.array([inner[i] if d == 0 else d for i, d in enumerate(shape)], np.int64)
                name = n.input[1] + "_merged"
                model.graph.initializer.append(numpy_helper.from_array(shape, name))
                g.inits[name] = model.graph.initializer[-1]
                n.input[1] = name
            n.input[0] = src.input[0]
            removed.add(id(src))
    keep = [n for n in model.graph.node if id(n) not in removed]
    # Identities: Identity, identity Transpose, Reshape to the same static shape.
    g = _Graph(_with_nodes(model, keep))
    final, ren = [], {}
    for n in model.graph.node:
        ident = False
        if n.output and n.output[0] not in g.outputs:
            if n.op_type == "Identity":
                ident = True
            elif n.op_type == "Transpose":
                p = _attrs(n).get("perm")
                ident = p is not None and list(p) == list(range(len(p)))
            elif n.op_type == "Reshape":
                a, b = g.static_shape(n.input[0]), g.static_shape(n.output[0])
                ident = a is not None and a == b
        if ident:
            ren[n.output[0]] = ren.get(n.input[0], n.input[0])
            removed.add(id(n))
            continue
        for k, i in enumerate(n.input):
            if i in ren:
                n.input[k] = ren[i]
        final.append(n)
    _with_nodes(model, final)
    return len(removed)


def _transpose_init(model, g, node, cast=None):
    """Store the weight that node (a Transpose) reads, directly or through
    cast, transposed: under node's output name, or as a new weight that node,
    turned into a copy of cast, reads."""
    name = (cast or node).input[0]
    t = numpy_helper.to_array(g.inits[name])
    t = np.ascontiguousarray(np.transpose(t, _attrs(node).get("perm")))
    if cast is None:
        model.graph.initializer.append(numpy_helper.from_array(t, node.output[0]))
        return
    new = node.output[0] + "_weight"
    model.graph.initializer.append(numpy_helper.from_array(t, new))
    out = node.output[0]
    node.CopyFrom(cast)
    node.name = out + "_cast"
    node.input[0] = new
    node.output[0] = out


def _with_nodes(model, nodes):
    nodes = [_copy(n) for n in nodes]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def _head_splits(model):
    """Reshape(x -> [..., parts, heads, d]) -> Split(on parts) whose pieces
    are only reshaped again (the qkv head split): the pieces are contiguous
    ranges of x's last axis, so the Split reads x itself on that axis and
    the Reshape before it goes. Returns nodes removed."""
    g = _Graph(model)
    drop = set()
    for s in model.graph.node:
        if s.op_type != "Split":
            continue
        r = g.producer.get(s.input[0])
        if r is None or r.op_type != "Reshape" or len(g.consumers[r.output[0]]) != 1:
            continue
        X, T = g.static_shape(r.input[0]), g.static_shape(r.output[0])
        if X is None or T is None or not X:
            continue
        a = _attrs(s).get("axis", 0) % len(T)
        if int(np.prod(T[:a])) != int(np.prod(X[:-1])) or int(np.prod(T[a:])) != X[-1]:
            continue
        inner, sizes = int(np.prod(T[a + 1:])), []
        for o in s.output:
            os_, cs = g.static_shape(o), g.consumers.get(o, [])
            ok = os_ is not None and cs and o not in g.outputs
            for c in cs:
                t = _const(g, c.input[1]) if c.op_type == "Reshape" else None
                ok = ok and t is not None and not (t == 0).any() and c.input[0] == o
            if not ok:
                break
            sizes.append(os_[a] * inner)
        else:
            name = s.output[0] + "_sizes"
            model.graph.initializer.append(numpy_helper.from_array(np.array(sizes, np.int64), name))
            s.input[0] = r.input[0]
            del s.input[1:]
            s.input.append(name)
            del s.attribute[:]
            s.attribute.append(helper.make_attribute("axis", len(X) - 1))
            drop.add(id(r))
    if drop:
        _with_nodes(model, [n for n in model.graph.node if id(n) not in drop])
    return len(drop)


def _copy(node):
    c = onnx.NodeProto()
    c.CopyFrom(node)
    return c


def _prune(model):
    """Drop nodes whose outputs nothing reads and initializers no node reads."""
    g = model.graph
    live = {o.name for o in g.output}
    keep = []
    for n in reversed(list(g.node)):
        if any(o in live for o in n.output):
            keep.append(n)
            live.update(i for i in n.input if i)
            for a in n.attribute:  # subgraphs read outer names
                if a.type == onnx.AttributeProto.GRAPH:
                    live.update(_graph_reads(a.g))
    dropped = len(g.node) - len(keep)
    _with_nodes(model, reversed(keep))
    inits = [t for t in g.initializer if t.name in live]
    del g.initializer[:]
    g.initializer.extend(inits)
    vis = [v for v in g.value_info if v.name in live]
    del g.value_info[:]
    g.value_info.extend(vis)
    return dropped


def _graph_reads(sub):
    names = set()
    for n in sub.node:
        names.update(i for i in n.input if i)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                names |= _graph_reads(a.g)
    return names


def counts(model):
    """Node counts: all, and the layout/shape ops this pass folds."""
    c = collections.Counter(n.op_type for n in model.graph.node)
    shape_ops = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Constant", "Div",
                 "Mod", "Slice", "Reshape", "Transpose")
    return {"nodes": len(model.graph.node), **{k: c[k] for k in shape_ops}}


def describe(before, after):
    """One line: node counts before -> after, the layout ops among them."""
    ops = ("Shape", "Concat", "Reshape", "Transpose")
    return f"{before['nodes']} -> {after['nodes']} nodes (" + ", ".join(
        f"{k} {before[k]} -> {after[k]}" for k in ops) + ")"


def fold(model):
    """Fold model in place; returns (counts before, counts after)."""
    before = counts(model)
    # Each round learns the shapes behind the Reshapes the last one folded:
    # a chain of blocks takes a few rounds per block.
    for _ in range(256):
        changed = _fold_constants(model)
        changed += _copy_dims(model)
        changed += _chains(model)
        changed += _head_splits(model)
        changed += _prune(model)
        if not changed:
            break
    # onnx shape inference may have left value_info for removed tensors.
    del model.graph.value_info[:]
    return before, counts(model)


def fold_file(path):
    """Fold the graph at path in place; returns (counts before, after). The
    folded graph replaces the file only once it is checked and written
    whole; a failed write leaves no temporary file behind (the runtime
    refuses a package with files its manifest does not list)."""
    m = onnx.load(path)
    before, after = fold(m)
    onnx.checker.check_model(m)
    tmp = path + ".folding"
    try:
        onnx.save(m, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return before, after


GRAPH_FILES = ("image_encoder.onnx", "memory_attention.onnx", "mask_decoder.onnx",
               "memory_encoder.onnx")


def fold_package(directory, log=print):
    """Fold every graph of the package in directory in place. Each graph's
    file must still have the hash the manifest lists (a changed or damaged
    file is refused, not blessed with a new hash). The manifest is
    rewritten with the new file's hash after each graph: a graph that fails
    leaves the ones before it folded and the package usable (a kill
    between a graph's two writes is mended by running it again, as folding
    a folded graph changes nothing)."""
    from export import sha256

    man_path = os.path.join(directory, "manifest.json")
    with open(man_path) as f:
        man = json.load(f)
    files = man.get("files") or {}
    graphs = list((man.get("graphs") or {}).values()) or list(GRAPH_FILES)
    for name in graphs:
        path = os.path.join(directory, name)
        if name not in files:
            raise RuntimeError(f"{name}: not among the manifest's files (not a vidseg package?)")
        if not os.path.isfile(path):
            raise RuntimeError(f"{name}: missing")
        if sha256(path) != files[name]:
            raise RuntimeError(f"{name}: SHA-256 differs from the manifest's (a changed or damaged file): nothing folded")
    for name in graphs:
        path = os.path.join(directory, name)
        try:
            before, after = fold_file(path)
        except Exception as e:
            raise RuntimeError(f"{name}: {type(e).__name__}: {e} (left as it was)") from e
        files[name] = sha256(path)
        tmp = man_path + ".folding"
        with open(tmp, "w") as f:
            json.dump(man, f, indent=2)
            f.write("\n")
        os.replace(tmp, man_path)
        log(f"{name}: {describe(before, after)}")


def main(argv=None):
    p = argparse.ArgumentParser(description="Fold the graphs of vidseg model packages in place.")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="model package directory")
    a = p.parse_args(argv)
    for d in a.dirs:
        if not os.path.isfile(os.path.join(d, "manifest.json")):
            p.error(f"{d}: no manifest.json (not a model package)")
        try:
            fold_package(d, log=lambda line, d=d: print(f"{d}: {line}"))
        except (OSError, RuntimeError, ValueError) as e:
            print(f"fold.py: {d}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
