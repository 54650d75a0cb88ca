"""Convert an exported float32 ONNX graph to fp16 weights and compute.

The graph interface does not change: float32 inputs are cast to float16
where fp16 compute starts, float16 results are cast back to float32 at the
outputs (docs/model-package.md stays exact). Inside, each node gets one
precision:

* float32: nodes computing positions (every node whose value depends only on
  shapes and constants, e.g. the RoPE cos/sin tables, which need exact
  integer positions up to 4096 > 2048, the largest integer fp16 holds
  exactly), every ancestor of a Sin/Cos (sine encodings of point coordinates
  and pointer offsets: the argument needs float32), and the normalizations
  (LayerNormalization, Softmax, and the ReduceMean/Pow/Sqrt of the
  hand-written LayerNorm2d; elementwise ops fed only by those stay float32 too).
* float16: the heavy ops (MatMul, Gemm, Conv, ConvTranspose, Einsum) and
  everything downstream of them that is not in the list above.

Casts are inserted where a tensor's precision differs from what its consumer
computes in; weights used only by fp16 nodes are stored as fp16. A generic
float-to-float16 rewrite (as onnxconverter-common does) would put the
position tables in fp16; this one is written for these graphs and logs what
it did.
"""

from __future__ import annotations

from collections import defaultdict

FP32_OPS = {"LayerNormalization", "Softmax", "ReduceMean", "Pow", "Sqrt", "Range",
            "CumSum", "Sin", "Cos", "Exp", "Log", "ReduceSum"}
HEAVY_OPS = {"MatMul", "Gemm", "Conv", "ConvTranspose", "Einsum"}
# Ops that only move values: on a constant path (e.g. a weight transposed in
# the graph when it is exported without constant folding) they run in fp16
# when every consumer wants fp16, so the weight itself is stored as fp16.
MOVE_OPS = {"Transpose", "Reshape", "Unsqueeze", "Squeeze", "Identity", "Flatten",
            "Concat", "Slice", "Gather", "Expand", "Tile", "Split"}
# Inputs that must keep their own type (float32 by the ONNX type constraint or
# any type): op -> input indices. None = all inputs.
KEEP_INPUT_TYPE = {"Resize": {1, 2}, "Upsample": {1}, "Shape": None, "Size": None,
                   "Cast": None}
FP16_MAX = 65504.0


def convert(model, log=print):
    """Rewrite `model` (onnx.ModelProto, float32) in place; returns a summary dict."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16
    inferred = onnx.shape_inference.infer_shapes(model)
    g = model.graph
    etype = {}
    for vi in list(inferred.graph.value_info) + list(g.input) + list(g.output):
        etype[vi.name] = vi.type.tensor_type.elem_type
    inits = {i.name: i for i in g.initializer}
    for i in g.initializer:
        etype[i.name] = i.data_type
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    etype[n.output[0]] = a.t.data_type
    for n in g.node:  # anything shape inference left untyped: fall back
        for o in n.output:
            if o and etype.get(o, 0) == 0:
                if n.op_type == "Cast":
                    etype[o] = next(a.i for a in n.attribute if a.name == "to")
                else:
                    etype[o] = next((etype.get(i, 0) for i in n.input if i), 0)
                    log(f"  fp16: {n.op_type} {n.name} output {o}: type guessed "
                        f"{etype[o]}")

    def is_float(t):
        return bool(t) and etype.get(t) == FLOAT

    producer = {}
    consumers = defaultdict(list)
    for n in g.node:
        for o in n.output:
            producer[o] = n
        for k, i in enumerate(n.input):
            if i:
                consumers[i].append((n, k))
    graph_inputs = {i.name for i in g.input}

    # 1. Static: values that depend on no graph input data (shapes/constants).
    static = set(inits)
    for n in g.node:
        if n.op_type in ("Constant", "Shape", "Size") or all(
                (not i) or i in static for i in n.input):
            static.update(o for o in n.output if o)
    # 2. Ancestors of Sin/Cos among non-static values.
    trig_anc = set()
    stack = [n for n in g.node if n.op_type in ("Sin", "Cos")]
    while stack:
        n = stack.pop()
        if id(n) in trig_anc:
            continue
        trig_anc.add(id(n))
        for i in n.input:
            if i and i not in static and i in producer:
                stack.append(producer[i])
    # 3. Precision per node (topological order = node order of an exported graph).
    prec = {}  # id(node) -> FLOAT or HALF
    home = {}  # float tensor -> precision it is produced in
    for i in graph_inputs:
        home[i] = FLOAT
    for n in g.node:
        outs_static = all((not o) or o in static for o in n.output)
        if outs_static or n.op_type in FP32_OPS or id(n) in trig_anc:
            p = FLOAT
        elif n.op_type in HEAVY_OPS:
            p = HALF
        else:
            keep = KEEP_INPUT_TYPE.get(n.op_type, set())
            dyn = [i for k, i in enumerate(n.input)
                   if i and is_float(i) and i not in static
                   and not (keep is None or k in keep)]
            if n.op_type == "Cast":
                dyn = [i for i in n.input if is_float(i) and i not in static]
            p = HALF if any(home.get(i) == HALF for i in dyn) else FLOAT
        prec[id(n)] = p
        for o in n.output:
            if is_float(o) or (n.op_type == "Cast" and o and etype.get(o) == FLOAT):
                home[o] = p

    # 4. What precision each float input wants; constant value-moving paths
    # feeding only fp16 nodes become fp16 (reverse order: consumers first).
    graph_outputs = {o.name for o in g.output}

    def wanted(t):
        w = {FLOAT} if t in graph_outputs else set()
        for c, k in consumers[t]:
            keep = KEEP_INPUT_TYPE.get(c.op_type, set())
            if not (keep is None or k in keep):
                w.add(prec[id(c)])
        return w

    for n in reversed(g.node):
        if n.op_type in MOVE_OPS and prec[id(n)] == FLOAT and all(
                (not o) or o in static for o in n.output):
            fl = [o for o in n.output if is_float(o)]
            if fl and all(wanted(o) == {HALF} for o in fl):
                prec[id(n)] = HALF
                for o in fl:
                    home[o] = HALF
    want = {}
    for t in etype:
        if is_float(t):
            want[t] = wanted(t)
    # Initializers and Constant values wanted only in fp16 become fp16.
    converted, clipped = 0, 0
    for name, init in inits.items():
        if init.data_type == FLOAT and want.get(name) == {HALF}:
            a = numpy_helper.to_array(init)
            over = np.abs(a) > FP16_MAX
            clipped += int(over.sum())
            h = np.clip(a, -FP16_MAX, FP16_MAX).astype(np.float16)
            init.CopyFrom(numpy_helper.from_array(h, name))
            home[name] = HALF
            converted += 1
        elif init.data_type == FLOAT:
            home[name] = FLOAT
    for n in g.node:
        if n.op_type == "Constant" and is_float(n.output[0]) and want.get(n.output[0]) == {HALF}:
            for a in n.attribute:
                if a.name == "value":
                    v = numpy_helper.to_array(a.t)
                    a.t.CopyFrom(numpy_helper.from_array(
                        np.clip(v, -FP16_MAX, FP16_MAX).astype(np.float16), a.t.name))
            home[n.output[0]] = HALF
            prec[id(n)] = HALF

    # 5. Rewrite: Cast targets, casts between precisions, fp32 outputs.
    cast_name = {}
    casts_after = defaultdict(list)  # producer output name (or "") -> nodes

    def cast_of(t, to):
        key = (t, to)
        if key not in cast_name:
            nm = f"{t}__to{'16' if to == HALF else '32'}"
            cast_name[key] = nm
            node = helper.make_node("Cast", [t], [nm], to=to, name=nm + "_cast")
            anchor = t if t in producer else ""
            casts_after[anchor].append(node)
        return cast_name[key]

    for n in g.node:
        p = prec[id(n)]
        if n.op_type == "Cast" and p == HALF:
            for a in n.attribute:
                if a.name == "to" and a.i == FLOAT:
                    a.i = HALF
        keep = KEEP_INPUT_TYPE.get(n.op_type, set())
        for k, i in enumerate(n.input):
            if not i or not is_float(i) or keep is None or k in keep:
                continue
            if home.get(i, FLOAT) != p:
                n.input[k] = cast_of(i, p)
    n_out_casts = 0
    for o in g.output:
        if home.get(o.name) == HALF:
            src = o.name + "__fp16"
            pn = producer[o.name]
            for k, x in enumerate(pn.output):
                if x == o.name:
                    pn.output[k] = src
            for c, k in consumers[o.name]:
                if c.input[k] == o.name:
                    c.input[k] = src
            for lst in casts_after.values():
                for c in lst:
                    if c.input[0] == o.name:
                        c.input[0] = src
            if o.name in casts_after:
                casts_after[src] = casts_after.pop(o.name)
            casts_after[src].append(helper.make_node(
                "Cast", [src], [o.name], to=FLOAT, name=o.name + "_to32"))
            n_out_casts += 1
    old = list(g.node)
    new = list(casts_after.get("", []))
    for n in old:
        new.append(n)
        for o in n.output:
            new.extend(casts_after.get(o, []))
    del g.node[:]
    g.node.extend(new)
    del g.value_info[:]
    onnx.checker.check_model(model)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    n16 = sum(1 for n in old if prec[id(n)] == HALF and n.op_type != "Constant")
    heavy16 = sum(1 for n in old if prec[id(n)] == HALF and n.op_type in HEAVY_OPS)
    heavy = sum(1 for n in old if n.op_type in HEAVY_OPS and not all(
        o in static for o in n.output))
    summary = {"fp16_nodes": n16, "fp32_nodes": len(old) - n16,
               "heavy_fp16": heavy16, "heavy": heavy,
               "weights_fp16": converted, "clipped_values": clipped,
               "casts": len(cast_name) + n_out_casts,
               "trig_ancestors": len(trig_anc)}
    return summary
