"""Build official SAM 2 / SAM 2.1 models from the official YAML configs.

The official `sam2` package is imported from a source checkout (``--sam2-src``,
env ``SAM2_SRC``, default ``<repo>/../ext/sam2``). hydra, omegaconf and iopath
are not packaged on Debian, so this module provides a minimal ``_target_``
instantiate over the YAML and tiny import shims for the names ``sam2`` imports
from them. Stand-ins for ops torch 1.13 lacks (and for complex RoPE, which no
torch can export to ONNX) are installed by :func:`install_standins`; the
exporter and the fixture-trace script both go through :func:`build_model` /
:func:`build_video_predictor`, so PyTorch computes exactly what the exported
graphs compute. Every stand-in is documented in docs/exporter.md.

Usage from another script::

    import sam2build
    model = sam2build.build_model("sam2.1_hiera_t", seed=0,
                                  depth_override={"stages": [1, 1, 2, 1]})
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import re
import sys
import types
from typing import Any, Dict, Mapping, Optional

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_SAM2_SRC = os.path.join(REPO_ROOT, "..", "ext", "sam2")
# EdgeTAM (facebookresearch/EdgeTAM) is a fork of sam2 whose package is also
# named `sam2`; its RepViT trunk comes from timm (pytorch-image-models).
DEFAULT_EDGETAM_SRC = os.path.join(REPO_ROOT, "..", "ext", "EdgeTAM")
DEFAULT_TIMM_SRC = os.path.join(REPO_ROOT, "..", "ext", "timm")
EDGETAM = "edgetam"

# Variant name -> config path relative to the sam2 package directory.
VARIANTS = {
    "sam2.1_hiera_t": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_s": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_b+": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_l": "configs/sam2.1/sam2.1_hiera_l.yaml",
    "sam2_hiera_t": "configs/sam2/sam2_hiera_t.yaml",
    "sam2_hiera_s": "configs/sam2/sam2_hiera_s.yaml",
    "sam2_hiera_b+": "configs/sam2/sam2_hiera_b+.yaml",
    "sam2_hiera_l": "configs/sam2/sam2_hiera_l.yaml",
    # In the EdgeTAM source (resolve_src).
    EDGETAM: "configs/edgetam.yaml",
}
# Names users know from the checkpoint files.
ALIASES = {
    "sam2.1_hiera_tiny": "sam2.1_hiera_t",
    "sam2.1_hiera_small": "sam2.1_hiera_s",
    "sam2.1_hiera_base_plus": "sam2.1_hiera_b+",
    "sam2.1_hiera_large": "sam2.1_hiera_l",
    "sam2_hiera_tiny": "sam2_hiera_t",
    "sam2_hiera_small": "sam2_hiera_s",
    "sam2_hiera_base_plus": "sam2_hiera_b+",
    "sam2_hiera_large": "sam2_hiera_l",
}

# build_sam.py's apply_postprocessing overrides (build_sam2 uses the first three,
# build_sam2_video_predictor all five).
POSTPROCESSING_OVERRIDES = {
    "sam_mask_decoder_extra_args.dynamic_multimask_via_stability": True,
    "sam_mask_decoder_extra_args.dynamic_multimask_stability_delta": 0.05,
    "sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh": 0.98,
}
VIDEO_POSTPROCESSING_OVERRIDES = {
    **POSTPROCESSING_OVERRIDES,
    "binarize_mask_from_pts_for_mem_enc": True,
    # No-op on CPU: the hole filling needs the sam2._C CUDA extension, which
    # is absent; the official code warns and returns the mask unchanged.
    "fill_hole_area": 8,
}

# Object-presence head's final bias (pred_obj_scores_mlp: MLP with 3 layers).
OBJ_SCORE_BIAS = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"

_state: Dict[str, Any] = {}  # process-wide: which shims/stand-ins are installed


def canonical_variant(variant: str) -> str:
    v = ALIASES.get(variant, variant)
    if v not in VARIANTS:
        raise ValueError(
            f"unknown variant {variant!r}; known: {', '.join(sorted(VARIANTS))}"
        )
    return v


def family_of(variant: str) -> str:
    v = canonical_variant(variant)
    if v == EDGETAM:
        return EDGETAM
    return "sam2.1" if v.startswith("sam2.1") else "sam2"


def is_edgetam(variant: str) -> bool:
    return canonical_variant(variant) == EDGETAM


def _checkout(src: str, marker: str, what: str, how: str) -> str:
    """src as an absolute path, when it holds the file marker."""
    src = os.path.abspath(src)
    if not os.path.isfile(os.path.join(src, marker)):
        raise FileNotFoundError(f"{what} not found at {src} (expected {marker}; {how})")
    return src


def resolve_edgetam_src(edgetam_src: Optional[str] = None) -> str:
    src = edgetam_src or os.environ.get("EDGETAM_SRC") or DEFAULT_EDGETAM_SRC
    return _checkout(src, "sam2/modeling/perceiver.py", "official EdgeTAM source",
                     "set --edgetam-src or EDGETAM_SRC")


def resolve_timm_src(timm_src: Optional[str] = None) -> Optional[str]:
    """The timm source checkout to import (None: an installed timm)."""
    src = timm_src or os.environ.get("TIMM_SRC")
    if src is None:
        try:
            importlib.import_module("timm")
            return None
        except ImportError:
            src = DEFAULT_TIMM_SRC
    return _checkout(src, "timm/__init__.py", "timm source",
                     "set --timm-src or TIMM_SRC, or install timm")


def resolve_src(variant: str, sam2_src: Optional[str] = None,
                edgetam_src: Optional[str] = None) -> str:
    """The official source that provides `sam2` for variant."""
    if is_edgetam(variant):
        return resolve_edgetam_src(edgetam_src)
    return resolve_sam2_src(sam2_src)


def resolve_sam2_src(sam2_src: Optional[str] = None) -> str:
    src = sam2_src or os.environ.get("SAM2_SRC") or DEFAULT_SAM2_SRC
    return _checkout(src, "sam2/modeling/sam2_base.py", "official sam2 source",
                     "set --sam2-src or SAM2_SRC")


# ---------------------------------------------------------------------------
# Import shims for packages Debian does not ship.


def _install_import_shims() -> None:
    """Register stub modules for hydra/iopath (and tqdm when absent).

    sam2/__init__.py initialises hydra's config search path; build_sam.py is
    never imported (we replace it), and hieradet.py only uses iopath to read
    optional pretrained Hiera weights, which we never pass.
    """

    def stub(name: str, **attrs: Any) -> None:
        try:
            importlib.import_module(name)
            return
        except ImportError:
            pass
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        mod.__vidseg_stub__ = True
        sys.modules[name] = mod

    class _GlobalHydra:
        @staticmethod
        def instance():
            return _GlobalHydra()

        def is_initialized(self):
            return True  # so sam2/__init__.py skips initialize_config_module

    def _no_hydra(*_a, **_k):
        raise RuntimeError("hydra is not available; use sam2build.build_model")

    stub("hydra", initialize_config_module=_no_hydra, compose=_no_hydra)
    stub("hydra.core")
    stub("hydra.core.global_hydra", GlobalHydra=_GlobalHydra)
    stub("hydra.utils", instantiate=_no_hydra)
    stub("omegaconf", OmegaConf=None)

    class _PathMgr:
        @staticmethod
        def open(path, mode="r"):
            return open(path, mode)

    stub("iopath")
    stub("iopath.common")
    stub("iopath.common.file_io", g_pathmgr=_PathMgr())

    def _tqdm(it=None, *_a, **_k):
        return it

    stub("tqdm", tqdm=_tqdm)


# ---------------------------------------------------------------------------
# Op stand-ins.


def _plain_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False):
    """softmax(q k^T / sqrt(d)) v, as torch 2.x's math kernel computes it.

    Only what sam2 calls is supported (no mask, no causal; dropout only in
    training, which the exporter never does).
    """
    import torch

    if attn_mask is not None or is_causal:
        raise NotImplementedError("vidseg sdpa stand-in: masks are not supported")
    scale = 1.0 / math.sqrt(query.shape[-1])
    attn = torch.matmul(query * scale, key.transpose(-2, -1))
    attn = torch.softmax(attn, dim=-1)
    if dropout_p > 0.0:
        attn = torch.nn.functional.dropout(attn, p=dropout_p)
    return torch.matmul(attn, value)


def compute_axial_cis_real(dim: int, end_x: int, end_y: int, theta: float = 10000.0,
                           positions=None):
    """Real-valued twin of position_encoding.compute_axial_cis.

    Returns [end_x*end_y, dim/2, 2] holding (cos, sin) of the same angles the
    official code turns into unit complex numbers with torch.polar.
    positions, if given, is the float tensor 0..N-1 (N = end_x*end_y) derived
    from a graph input, so that ONNX export computes the table in the graph
    instead of storing it as a constant.
    """
    import torch

    # On the positions' device (a GPU predictor), as the official table is.
    dev = positions.device if positions is not None else None
    freqs_x = 1.0 / (theta ** (torch.arange(0, dim, 4, device=dev)[: (dim // 4)].float() / dim))
    freqs_y = 1.0 / (theta ** (torch.arange(0, dim, 4, device=dev)[: (dim // 4)].float() / dim))
    if positions is None:
        t = torch.arange(end_x * end_y, dtype=torch.float32)
    else:
        t = positions.float()
    t_x = (t % end_x).float()
    t_y = torch.div(t, end_x, rounding_mode="floor").float()
    freqs_x = torch.outer(t_x, freqs_x)
    freqs_y = torch.outer(t_y, freqs_y)
    angles = torch.cat([freqs_x, freqs_y], dim=-1)
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


def apply_rotary_enc_real(xq, xk, freqs_cis, repeat_freqs_k: bool = False):
    """Real-valued twin of position_encoding.apply_rotary_enc.

    Pairs (x[2i], x[2i+1]) are rotated by (cos, sin): the complex product
    (a + ib)(c + is) written out as (ac - bs, as + bc). With repeat_freqs_k the
    keys hold r frames of the query's N positions; instead of repeating the
    table r times (r would be frozen into an exported graph) the keys are
    viewed as [.., r, N, D] and the table broadcast over r: same products.
    """
    import torch

    def rotate(x, cs):
        x = x.float().reshape(*x.shape[:-1], -1, 2)
        a, b = x[..., 0], x[..., 1]
        c, s = cs[..., 0], cs[..., 1]
        return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)

    n = freqs_cis.shape[0]
    xq_out = rotate(xq, freqs_cis).type_as(xq)
    if xk.shape[-2] == 0:
        return xq_out, xk
    if repeat_freqs_k:
        b, h, _, d = xk.shape
        xk_out = rotate(xk.reshape(b, h, -1, n, d), freqs_cis).reshape(b, h, -1, d)
    else:
        xk_out = rotate(xk, freqs_cis)
    return xq_out, xk_out.type_as(xk)


def _rope_table(self, tokens):
    """The (cos, sin) table of RoPEAttention self for the square grid of
    len(tokens) query tokens (a 1-D slice of the queries).

    Recomputed per call (same function and arguments as the official cached
    self.freqs_cis) with positions derived from the input, so that an export
    does not freeze 4 MB of cos/sin constants per attention into the graph.
    """
    import torch

    side = int(round(math.sqrt(int(tokens.shape[0]))))
    return compute_axial_cis_real(
        self.compute_cis.keywords["dim"], side, side,
        theta=self.compute_cis.keywords.get("theta", 10000.0),
        positions=torch.ones_like(tokens).cumsum(0) - 1,
    )


def _rope_attention_forward(self, q, k, v, num_k_exclude_rope=0):
    """RoPEAttention.forward without the in-place slice assignment.

    The official code writes the rotated keys back with
    `k[:, :, :num_k_rope] = ...`; torch's ONNX export of that in-place copy
    into a dynamic slice is wrong, so the rotated and the excluded (object
    pointer) keys are concatenated instead: same values, same order.
    """
    import torch

    if (torch.onnx.is_in_onnx_export() and _state.get("fused_attention")
            and self.num_heads == 1):
        return _rope_attention_export(self, q, k, v, num_k_exclude_rope)
    q = self._separate_heads(self.q_proj(q), self.num_heads)
    k = self._separate_heads(self.k_proj(k), self.num_heads)
    v = self._separate_heads(self.v_proj(v), self.num_heads)
    freqs = _rope_table(self, q[0, 0, :, 0]).to(q.device)
    num_k_rope = k.size(-2) - num_k_exclude_rope
    q, k_rope = apply_rotary_enc_real(
        q, k[:, :, :num_k_rope], freqs_cis=freqs,
        repeat_freqs_k=self.rope_k_repeat,
    )
    k = torch.cat([k_rope, k[:, :, num_k_rope:]], dim=-2)
    dropout_p = self.dropout_p if self.training else 0.0
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
    return self.out_proj(self._recombine_heads(out))


def _rope_attention_export(self, q, k, v, num_k_exclude_rope=0):
    """The same RoPEAttention, as one-head fused exports write it: fewer
    passes over the 7 x 4096 memory keys (docs/exporter.md, "Memory
    attention").

    - RoPE as x*C + swap(x)*S, where swap exchanges each pair and C, S hold
      each pair's cos and (-sin, sin): the rotation written out, the same
      products. swap(W x + b) = (P W) x + P b, so swap(x) is a second
      projection with pair-swapped rows instead of a gather and a stack.
    - Only the rotated keys' 64-wide inputs are sliced; rotated and pointer
      keys are projected apart and joined once.
    - Batch-first [B, tokens, C] goes to MultiHeadAttention as it is (one
      head: no head split, no transposes).
    - The value projection is folded behind the attention when it widens:
      softmax rows sum to 1, so A (M W^T + b) = (A M) W^T + b exactly, and
      the attention reads 64-wide values instead of 256.
    """
    import torch
    import torch.nn.functional as F

    def swapped(lin):
        w = lin.weight.reshape(-1, 2, lin.weight.shape[-1]).flip(1).reshape(lin.weight.shape)
        b = lin.bias.reshape(-1, 2).flip(1).reshape(-1)
        return w, b

    n = int(q.shape[-2])
    cs = _rope_table(self, q[0, :, 0])  # [n, D/2, 2]
    cos, sin = cs[..., 0], cs[..., 1]
    table_c = torch.stack([cos, cos], dim=-1).flatten(-2)  # [n, D]
    table_s = torch.stack([-sin, sin], dim=-1).flatten(-2)

    def rope(x_in, lin, frames):
        w, b = swapped(lin)
        x, xs = lin(x_in), F.linear(x_in, w, b)
        if frames:
            bsz, d = x.shape[0], x.shape[-1]
            x, xs = x.reshape(bsz, -1, n, d), xs.reshape(bsz, -1, n, d)
            return (x * table_c + xs * table_s).reshape(bsz, -1, d)
        return x * table_c + xs * table_s

    q = rope(q, self.q_proj, False)
    num_k_rope = k.size(-2) - num_k_exclude_rope
    k_rot = rope(k[:, :num_k_rope], self.k_proj, self.rope_k_repeat)
    # A traced pointer count is a tensor: always join (the slice may be
    # empty at run time); a plain 0 (self-attention) has nothing to join.
    if not isinstance(num_k_exclude_rope, int) or num_k_exclude_rope > 0:
        k = torch.cat([k_rot, self.k_proj(k[:, num_k_rope:])], dim=-2)
    else:
        k = k_rot
    fold_v = self.v_proj.in_features < self.v_proj.out_features
    if not fold_v:
        v = self.v_proj(v)
    out = _state["fused_mha"].apply(q, k, v, int(q.shape[-1]))
    if fold_v:
        out = F.linear(out, self.v_proj.weight, self.v_proj.bias)
    return self.out_proj(out)


def _make_fused_mha():
    import torch

    class FusedMHA(torch.autograd.Function):
        """One-head attention on batch-first q [B, S, d], k [B, L, d],
        v [B, L, dv] -> [B, S, dv], exported as MultiHeadAttention as is."""

        @staticmethod
        def forward(ctx, q, k, v, head_dim):
            return _state["sdpa_inner"](q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)).squeeze(1)

        @staticmethod
        def symbolic(g, q, k, v, head_dim):
            out = g.op("com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=1,
                       scale_f=1.0 / math.sqrt(head_dim))
            out.setType(q.type().with_sizes([None, None, None]))
            return out

    return FusedMHA


class _FusedAttentionScope:
    """Context manager: while active, an ONNX export writes every
    scaled_dot_product_attention as one com.microsoft MultiHeadAttention node.

    Same math (softmax(q k^T / sqrt(d)) v, no mask, no bias); PyTorch itself
    keeps computing with the plain stand-in (or torch 2.x's own kernel), so the
    self-check compares the fused ONNX Runtime kernel against the reference.
    ONNX Runtime's CPU kernel for it is a flash attention (tiles of keys, a
    running softmax): it never materializes the [S, L] score matrix, which
    for the memory attention (S = 4096 queries, L = 7 x 4096 + 64 keys) is
    470 MB per head and call. docs/exporter.md has the measurements.
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        self.prev = _state.get("fused_attention", False)
        _state["fused_attention"] = self.enabled
        return self

    def __exit__(self, *exc):
        _state["fused_attention"] = self.prev
        return False


def fused_attention(enabled: bool = True) -> _FusedAttentionScope:
    return _FusedAttentionScope(enabled)


def _make_fused_sdpa():
    import torch

    class FusedSDPA(torch.autograd.Function):
        """q, k, v: [B, heads, S|L, d] -> [B, heads, S, d] (BNSH, as
        F.scaled_dot_product_attention). Exported as Transpose/Reshape to the
        [B, S, heads*d] layout MultiHeadAttention takes, and back."""

        @staticmethod
        def forward(ctx, q, k, v, num_heads, head_dim):
            return _state["sdpa_inner"](q, k, v)

        @staticmethod
        def symbolic(g, q, k, v, num_heads, head_dim):
            def const(vals):
                return g.op("Constant", value_t=torch.tensor(vals, dtype=torch.int64))

            def to_bsd(x):
                x = g.op("Transpose", x, perm_i=[0, 2, 1, 3])
                return g.op("Reshape", x, const([0, 0, -1]))

            # 1/sqrt(query width), the op's default too, stated as FusedMHA does.
            out = g.op("com.microsoft::MultiHeadAttention", to_bsd(q), to_bsd(k), to_bsd(v),
                       num_heads_i=int(num_heads), scale_f=1.0 / math.sqrt(head_dim))
            out.setType(q.type().with_sizes([None, None, None]))
            out = g.op("Reshape", out, const([0, 0, int(num_heads), -1]))
            return g.op("Transpose", out, perm_i=[0, 2, 1, 3])

    return FusedSDPA


def _sdpa_dispatch(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False):
    """F.scaled_dot_product_attention as installed by install_standins: the
    fused ONNX node inside a fused_attention() export, else the inner one."""
    import torch

    if (_state.get("fused_attention") and torch.onnx.is_in_onnx_export()
            and attn_mask is None and not is_causal and dropout_p == 0.0
            and query.dim() == 4):
        return _state["fused_sdpa"].apply(query, key, value, int(query.shape[1]),
                                          int(query.shape[-1]))
    return _state["sdpa_inner"](query, key, value, attn_mask=attn_mask,
                                dropout_p=dropout_p, is_causal=is_causal)


def install_standins() -> None:
    """Install the op stand-ins (idempotent). See docs/exporter.md.

    1. F.scaled_dot_product_attention: a plain softmax attention, only when
       torch lacks it (torch < 2.0). Either way F.scaled_dot_product_attention
       becomes a dispatcher that exports as a fused MultiHeadAttention node
       inside fused_attention() (export only; values unchanged).
    2. Tensor.tile: routed through Tensor.repeat (same result when the repeat
       list has one entry per dim, which is the only way Hiera calls it);
       torch 1.13's ONNX exporter has no symbolic for aten::tile.
    3. RoPE: real-valued cos/sin instead of complex multiplication, always
       (ONNX has no complex tensors). Patched where sam2 looks the functions up.
    4. RoPEAttention.forward: same steps, but the rotated keys are joined to
       the pointer keys with torch.cat instead of an in-place slice write,
       which torch's ONNX exporter gets wrong for a dynamic slice.
    """
    if _state.get("standins"):
        return
    import torch
    import torch.nn.functional as F

    applied = []
    if not hasattr(F, "scaled_dot_product_attention"):
        _state["sdpa_inner"] = _plain_sdpa
        applied.append("scaled_dot_product_attention")
    else:
        _state["sdpa_inner"] = F.scaled_dot_product_attention
    # Exports inside fused_attention() write one MultiHeadAttention node.
    _state["fused_sdpa"] = _make_fused_sdpa()
    _state["fused_mha"] = _make_fused_mha()
    F.scaled_dot_product_attention = _sdpa_dispatch

    def _tile(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (list, tuple, torch.Size)):
            dims = tuple(dims[0])
        if len(dims) < self.dim():
            dims = (1,) * (self.dim() - len(dims)) + tuple(dims)
        return self.repeat(*dims)

    torch.Tensor.tile = _tile
    applied.append("Tensor.tile->repeat")

    pe = importlib.import_module("sam2.modeling.position_encoding")
    tr = importlib.import_module("sam2.modeling.sam.transformer")
    for mod in (pe, tr):
        mod.compute_axial_cis = compute_axial_cis_real
        mod.apply_rotary_enc = apply_rotary_enc_real
    tr.RoPEAttention.forward = _rope_attention_forward
    applied.append("RoPE real cos/sin")
    applied.append("RoPEAttention key write-back by concat")
    _state["standins"] = applied


def _rotate_real(x, cs):
    """Pairs (x[2i], x[2i+1]) of x rotated by cs [.., D/2, 2] = (cos, sin)."""
    import torch

    x = x.float().reshape(*x.shape[:-1], -1, 2)
    a, b = x[..., 0], x[..., 1]
    c, s = cs[..., 0], cs[..., 1]
    return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)


def _rope_v2_forward(self, q, k, v, num_k_exclude_rope=0, rope_k_repeat=-1):
    """EdgeTAM's RoPEAttentionv2.forward with real cos/sin and no in-place
    key write-back (position_encoding.apply_rotary_enc_v2).

    The queries (the current frame's F x F tokens) rotate by the square
    grid's table, recomputed from the token count as _rope_table does (the
    official table is built for q_sizes, which the exporter sets to F x F).
    The keys hold rope_k_repeat memory frames of T latents each, then the
    pointer tokens: in each frame the last len(freqs_cis_k) latents (the
    perceiver's 2D latents, a 16 x 16 grid) rotate by the k table and the
    first ones (1D latents) do not; pointers never do. Frames are viewed as
    [.., r, T, D] with r from the input, so the graph keeps the memory
    length dynamic.
    """
    import torch
    import torch.nn.functional as F

    # One head in a fused export: batch-first [B, tokens, C] straight into
    # MultiHeadAttention, and the value projection folded behind the
    # attention when it widens (A (M W^T + b) = (A M) W^T + b, softmax rows
    # summing to 1: the attention reads 64-wide values), as
    # _rope_attention_export does for RoPEAttention.
    fused = (torch.onnx.is_in_onnx_export() and _state.get("fused_attention")
             and self.num_heads == 1)
    fold_v = fused and self.v_proj.in_features < self.v_proj.out_features
    q = self._separate_heads(self.q_proj(q), self.num_heads)
    k = self._separate_heads(self.k_proj(k), self.num_heads)
    v = self._separate_heads(v if fold_v else self.v_proj(v), self.num_heads)
    q = _rotate_real(q, _rope_table(self, q[0, 0, :, 0]).to(q.device)).type_as(q)
    num_k_rope = k.size(-2) - num_k_exclude_rope
    k_mem, k_ptr = k[:, :, :num_k_rope], k[:, :, num_k_rope:]
    fk = self.freqs_cis_k.to(k.device)
    n = fk.shape[0]
    b, h, d = k.shape[0], k.shape[1], k.shape[-1]
    frames = k_mem.reshape(b, h, rope_k_repeat, -1, d)
    rot = _rotate_real(frames[..., -n:, :], fk).type_as(k)
    frames = torch.cat([frames[..., :-n, :], rot], dim=3)
    k = torch.cat([frames.reshape(b, h, -1, d), k_ptr], dim=2)
    if fused:
        # select, not squeeze: torch 1.13 exports a squeeze of a dimension it
        # cannot prove is 1 as an If node.
        out = _state["fused_mha"].apply(q.select(1, 0), k.select(1, 0), v.select(1, 0),
                                        int(q.shape[-1]))
        if fold_v:
            out = F.linear(out, self.v_proj.weight, self.v_proj.bias)
        return self.out_proj(out)
    dropout_p = self.dropout_p if self.training else 0.0
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
    return self.out_proj(self._recombine_heads(out))


def _embed_points_where(self, points, labels, pad):
    """EdgeTAM's PromptEncoder._embed_points with torch.where instead of
    boolean-mask writes (the form sam2 itself moved to): the same sums,
    and an ONNX export without index_put."""
    import torch

    points = points + 0.5
    if pad:
        padding_point = torch.zeros((points.shape[0], 1, 2), device=points.device)
        padding_label = -torch.ones((labels.shape[0], 1), device=labels.device)
        points = torch.cat([points, padding_point], dim=1)
        labels = torch.cat([labels, padding_label], dim=1)
    emb = self.pe_layer.forward_with_coords(points, self.input_image_size)
    lab = labels.unsqueeze(-1)
    emb = torch.where(lab == -1, torch.zeros_like(emb) + self.not_a_point_embed.weight, emb)
    for i in range(4):
        emb = torch.where(lab == i, emb + self.point_embeddings[i].weight, emb)
    return emb


def _perceiver_forward_2d(self, x):
    """EdgeTAM's PerceiverResampler.forward_2d with reshape where it calls
    view on an expanded tensor: the official view fails for a batch of more
    than one object ("view size is not compatible with input tensor's size
    and stride"); reshape copies instead and gives the same values."""
    import math as _math

    pm = importlib.import_module("sam2.modeling.perceiver")
    B, C, H, W = x.shape
    latents_2d = self.latents_2d.unsqueeze(0).expand(B, -1, -1).reshape(-1, 1, C)
    num_window = int(_math.sqrt(self.num_latents_2d))
    window_size = H // num_window
    x = x.permute(0, 2, 3, 1)
    x = pm.window_partition(x, window_size)
    x = x.flatten(1, 2)
    for layer in self.layers:
        latents_2d = layer(latents_2d, x)
    latents_2d = latents_2d.view(B, num_window, num_window, C).permute(0, 3, 1, 2)
    pos_2d = self.position_encoding(latents_2d)
    pos_2d = pos_2d.permute(0, 2, 3, 1).flatten(1, 2)
    latents_2d = latents_2d.permute(0, 2, 3, 1).flatten(1, 2)
    latents_2d = self.norm(latents_2d)
    return latents_2d, pos_2d


def install_edgetam_standins() -> None:
    """Stand-ins for what EdgeTAM adds to sam2 (docs/exporter.md):

    5. RoPEAttentionv2.forward (the memory attention's cross-attention):
       real cos/sin and keys joined by concat, as 3./4. for RoPEAttention.
    6. PromptEncoder._embed_points: torch.where instead of masked writes.
    7. PerceiverResampler.forward_2d: reshape instead of a view that fails
       for more than one object.
    8. TimmBackbone's timm.create_model: pretrained=False (weights come from
       the checkpoint or the seed, never a download), plus the reduced
       RepViT depth of a fixture (_state["timm_kwargs"]).
    """
    if _state.get("edgetam_standins"):
        return
    tr = importlib.import_module("sam2.modeling.sam.transformer")
    pe = importlib.import_module("sam2.modeling.sam.prompt_encoder")
    tb = importlib.import_module("sam2.modeling.backbones.timm")
    tr.RoPEAttentionv2.forward = _rope_v2_forward
    pe.PromptEncoder._embed_points = _embed_points_where
    importlib.import_module("sam2.modeling.perceiver").PerceiverResampler.forward_2d = (
        _perceiver_forward_2d)
    orig_create = tb.create_model

    def create_model(name, pretrained=False, **kw):
        kw.update(_state.get("timm_kwargs") or {})
        return orig_create(name, pretrained=False, **kw)

    tb.create_model = create_model
    _state["standins"] = list(_state.get("standins", [])) + [
        "RoPEAttentionv2 real cos/sin, keys joined by concat",
        "PromptEncoder._embed_points by torch.where",
        "PerceiverResampler.forward_2d: reshape for batches of objects",
        "timm create_model without pretrained download",
    ]
    _state["edgetam_standins"] = True


def setup(sam2_src: Optional[str] = None, variant: Optional[str] = None,
          edgetam_src: Optional[str] = None, timm_src: Optional[str] = None) -> str:
    """Put the official source on sys.path, install shims and stand-ins.

    The source is sam2's, or EdgeTAM's for variant "edgetam" (or when
    sam2_src is an EdgeTAM checkout); both define the package `sam2`, so a
    process loads one of them.
    """
    if "sam2_src" in _state and variant is None and sam2_src is None and edgetam_src is None:
        return _state["sam2_src"]  # whichever source this process loaded
    if variant is not None:
        src = resolve_src(variant, sam2_src, edgetam_src)
    elif sam2_src is not None or edgetam_src is None:
        src = resolve_sam2_src(sam2_src)
    else:
        src = resolve_edgetam_src(edgetam_src)
    if "sam2_src" in _state:
        if src != _state["sam2_src"]:
            raise RuntimeError(
                f"sam2 already loaded from {_state['sam2_src']}, not {src}"
            )
        return _state["sam2_src"]
    _install_import_shims()
    edgetam = os.path.isfile(os.path.join(src, "sam2", "modeling", "perceiver.py"))
    if edgetam:
        tsrc = resolve_timm_src(timm_src)
        if tsrc is not None and tsrc not in sys.path:
            sys.path.insert(0, tsrc)
        _state["timm_src"] = tsrc
    if src not in sys.path:
        sys.path.insert(0, src)
    import sam2  # noqa: F401

    loaded = os.path.dirname(os.path.abspath(sam2.__file__))
    if not loaded.startswith(src):
        raise RuntimeError(f"imported sam2 from {loaded}, expected under {src}")
    install_standins()
    if edgetam:
        install_edgetam_standins()
    _state["sam2_src"] = src
    _state["edgetam"] = edgetam
    return src


# ---------------------------------------------------------------------------
# Config: YAML + overrides + minimal instantiate.


def _yaml_loader():
    """SafeLoader that also reads `1e-6` as a float, as OmegaConf does.

    PyYAML follows YAML 1.1, where a float needs a dot; the sam2 configs write
    layer_scale_init_value: 1e-6.
    """
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    return Loader


def load_config(variant: str, sam2_src: Optional[str] = None,
                edgetam_src: Optional[str] = None) -> dict:
    """The `model` node of the official YAML config of `variant`, as dicts."""
    import yaml

    src = setup(sam2_src, variant=variant, edgetam_src=edgetam_src)
    path = os.path.join(src, "sam2", VARIANTS[canonical_variant(variant)])
    with open(path) as f:
        cfg = yaml.load(f, Loader=_yaml_loader())
    if "model" not in cfg:
        raise ValueError(f"{path}: no `model` node")
    return cfg["model"]


def _set_dotted(cfg: dict, key: str, value: Any) -> None:
    """Hydra `++key=value` on the model node (a leading `model.` is allowed)."""
    if key.startswith("model."):
        key = key[len("model.") :]
    parts = key.split(".")
    node = cfg
    for p in parts[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise ValueError(f"override {key!r}: {p!r} is not a mapping")
        node = nxt
    node[parts[-1]] = value


def _remap_global_blocks(old_stages, old_global, new_stages):
    """Keep global-attention blocks in the same stages after a depth change.

    A global block at position r of stage s moves to position min(r, new-1)
    of stage s (duplicates merged), so every stage that had global attention
    keeps at least one global block, and windowed blocks stay before it.
    """
    old_starts = [sum(old_stages[:i]) for i in range(len(old_stages))]
    new_starts = [sum(new_stages[:i]) for i in range(len(new_stages))]
    out = []
    for g in old_global:
        s = max(i for i, st in enumerate(old_starts) if st <= g)
        r = g - old_starts[s]
        n = new_starts[s] + min(r, new_stages[s] - 1)
        if n not in out:
            out.append(n)
    return out


# Hiera's constructor defaults (sam2/modeling/backbones/hieradet.py) for the
# keys apply_depth_override reads, when a config leaves them out.
HIERA_DEFAULTS = {"stages": (2, 3, 16, 3), "global_att_blocks": (12, 16, 20)}


def apply_depth_override(cfg: dict, depth: Mapping[str, Any]) -> dict:
    """Reduce depth only; every width stays. Returns the effective depth.

    Keys: "stages" (Hiera blocks per stage, 4 ints), "global_att_blocks"
    (optional; default remapped, see _remap_global_blocks),
    "memory_attention_layers", "memory_encoder_fuser_layers".
    """
    trunk = cfg["image_encoder"]["trunk"]
    if "name" in trunk:  # EdgeTAM's timm trunk
        return _apply_edgetam_depth(cfg, depth)
    known = {"stages", "global_att_blocks", "memory_attention_layers",
             "memory_encoder_fuser_layers"}
    unknown = set(depth) - known
    if unknown:
        raise ValueError(f"unknown depth keys {sorted(unknown)}; known {sorted(known)}")
    # B+ leaves stages and global attention blocks to Hiera's defaults
    # (hieradet.py); spelled out, they build the same trunk.
    for key, default in HIERA_DEFAULTS.items():
        trunk.setdefault(key, list(default))
    eff: Dict[str, Any] = {}
    if "stages" in depth:
        new = [int(x) for x in depth["stages"]]
        old = list(trunk["stages"])
        if len(new) != len(old) or any(x < 1 for x in new):
            raise ValueError(f"stages must be {len(old)} positive ints, got {new}")
        g = depth.get("global_att_blocks")
        if g is None:
            g = _remap_global_blocks(old, trunk["global_att_blocks"], new)
        trunk["stages"] = new
        trunk["global_att_blocks"] = [int(x) for x in g]
    elif "global_att_blocks" in depth:
        trunk["global_att_blocks"] = [int(x) for x in depth["global_att_blocks"]]
    if "memory_attention_layers" in depth:
        cfg["memory_attention"]["num_layers"] = int(depth["memory_attention_layers"])
    if "memory_encoder_fuser_layers" in depth:
        cfg["memory_encoder"]["fuser"]["num_layers"] = int(
            depth["memory_encoder_fuser_layers"]
        )
    eff["stages"] = list(trunk["stages"])
    eff["global_att_blocks"] = list(trunk["global_att_blocks"])
    eff["memory_attention_layers"] = cfg["memory_attention"]["num_layers"]
    eff["memory_encoder_fuser_layers"] = cfg["memory_encoder"]["fuser"]["num_layers"]
    # Hardcoded in SAM2Base._build_sam_heads, not configurable:
    eff["mask_decoder_transformer_layers"] = 2
    return eff


# RepViT-M1's blocks per stage (timm repvit_m1: depth=(2, 2, 14, 2)).
REPVIT_M1_DEPTH = [2, 2, 14, 2]


def _apply_edgetam_depth(cfg: dict, depth: Mapping[str, Any]) -> dict:
    """apply_depth_override for EdgeTAM: "stages" are RepViT blocks per
    stage (passed to timm.create_model as depth=, see
    install_edgetam_standins), plus "memory_attention_layers",
    "memory_encoder_fuser_layers" and "perceiver_layers"."""
    known = {"stages", "memory_attention_layers", "memory_encoder_fuser_layers",
             "perceiver_layers"}
    unknown = set(depth) - known
    if unknown:
        raise ValueError(f"unknown depth keys {sorted(unknown)}; known {sorted(known)}")
    trunk = cfg["image_encoder"]["trunk"]
    stages = list(REPVIT_M1_DEPTH)
    if "stages" in depth:
        new = [int(x) for x in depth["stages"]]
        if len(new) != 4 or any(x < 1 for x in new):
            raise ValueError(f"stages must be 4 positive ints, got {new}")
        stages = new
        trunk["vidseg_timm_depth"] = new
    if "memory_attention_layers" in depth:
        cfg["memory_attention"]["num_layers"] = int(depth["memory_attention_layers"])
    if "memory_encoder_fuser_layers" in depth:
        cfg["memory_encoder"]["fuser"]["num_layers"] = int(depth["memory_encoder_fuser_layers"])
    if "perceiver_layers" in depth:
        cfg["spatial_perceiver"]["depth"] = int(depth["perceiver_layers"])
    return {
        "stages": stages,
        "memory_attention_layers": cfg["memory_attention"]["num_layers"],
        "memory_encoder_fuser_layers": cfg["memory_encoder"]["fuser"]["num_layers"],
        "perceiver_layers": cfg["spatial_perceiver"]["depth"],
        "mask_decoder_transformer_layers": 2,
    }


def apply_image_size(cfg: dict, size: int) -> dict:
    """Build the same architecture for a size x size input (e.g. 256 for soak runs).

    image_size drives the prompt encoder (embedding size image_size / 16,
    input size image_size) and the mask sizes; the memory-attention RoPE
    tables follow the feature map (feat_sizes [size/16, size/16], 64 in the
    YAML). Hiera needs size / 32 whole (three 2x poolings after the stride-4
    patch embedding) and its stride-4 map to tile the 8x8 window pos-embed.
    Returns {"image_size", "feature_size", "mask_size"}.
    """
    stride = int(cfg.get("backbone_stride", 16))
    if size < 64 or size % 32:
        raise ValueError(f"image size {size}: want a multiple of 32, at least 64")
    feat = size // stride
    cfg["image_size"] = int(size)
    layer = cfg["memory_attention"]["layer"]
    for att in ("self_attention", "cross_attention"):
        if "feat_sizes" in layer.get(att, {}):
            layer[att]["feat_sizes"] = [feat, feat]
        if "q_sizes" in layer.get(att, {}):  # EdgeTAM's RoPEAttentionv2
            layer[att]["q_sizes"] = [feat, feat]
    perceiver = cfg.get("spatial_perceiver")
    if perceiver and feat % int(math.isqrt(int(perceiver.get("num_latents_2d", 0)) or 1)):
        raise ValueError(f"image size {size}: the perceiver's 2D latent grid needs "
                         f"the {feat}x{feat} feature map to split into whole windows")
    return {"image_size": int(size), "feature_size": feat, "mask_size": 4 * feat}


def _locate(target: str):
    mod_name, _, attr = target.rpartition(".")
    return getattr(importlib.import_module(mod_name), attr)


def instantiate(node: Any) -> Any:
    """Recursive hydra-style instantiate: dicts with `_target_` become objects."""
    if isinstance(node, dict):
        args = {k: instantiate(v) for k, v in node.items() if k != "_target_"}
        if "_target_" in node:
            return _locate(node["_target_"])(**args)
        return args
    if isinstance(node, list):
        return [instantiate(v) for v in node]
    return node


# ---------------------------------------------------------------------------
# Weights.


def randomize_constant_params(model, seed: int) -> list:
    """Give every parameter the official init left constant a seeded random value.

    The official init (run under torch.manual_seed) already draws most weights
    at random; LayerNorm weights (1), biases (0), Hiera's pos_embed (0) and the
    CXBlock layer scale (1e-6) are constants, and cloned layers are copies.
    Copies get their entries randomly permuted. Those get value + N(0, sigma),
    sigma = max(0.1 * |value|, 0.02), so no path through the network is a
    trivial identity/zero and a wrong weight mapping would show.
    Returns the names changed.
    """
    import torch

    gen = torch.Generator().manual_seed(seed + 1_000_003)
    changed = []
    seen = {}
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.numel() == 0:
                continue
            # get_clones deep-copies one initialised layer, so stacked layers
            # (memory attention, fuser) start identical: shuffle the copies.
            key = (tuple(p.shape), float(p.double().sum()))
            if p.numel() > 1 and any(torch.equal(p, q) for q in seen.get(key, [])):
                flat = p.flatten()
                p.copy_(flat[torch.randperm(flat.numel(), generator=gen)].view_as(p))
                changed.append(name)
            seen.setdefault(key, []).append(p.clone())
            if bool((p.max() == p.min()).item()):
                c = float(p.flatten()[0])
                sigma = max(0.1 * abs(c), 0.02)
                p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * sigma)
                changed.append(name)
    return changed


IOU_BIAS = "sam_mask_decoder.iou_prediction_head.layers.2.bias"

_ELEMENT = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>\d+)\]$")


def parse_param(kv: str) -> dict:
    """One --param NAME=VALUE as {key: float}.

    NAME=v sets the whole parameter to v (scalar broadcast); NAME[i]=v sets
    element i of the flattened parameter; NAME=v0,v1,... sets every element,
    recorded as NAME[0], NAME[1], ... so that manifests hold scalars only.
    """
    k, sep, v = kv.partition("=")
    if not sep or not k or not v:
        raise ValueError(f"{kv!r}: want NAME=VALUE, NAME[i]=VALUE or NAME=V0,V1,...")
    try:
        vals = [float(x) for x in v.split(",")]
    except ValueError:
        raise ValueError(f"{kv!r}: {v!r} is not a number or a comma-separated list") from None
    if len(vals) == 1:
        return {k: vals[0]}
    if _ELEMENT.match(k):
        raise ValueError(f"{kv!r}: an element takes one value")
    return {f"{k}[{i}]": x for i, x in enumerate(vals)}


def set_params(model, values: Mapping[str, Any]) -> None:
    """Set parameters by name (scalar broadcast, array-like or tensor).

    A key NAME[i] sets element i of the flattened parameter NAME (see
    parse_param); whole-parameter keys are applied first, then elements.
    """
    import torch

    params = dict(model.named_parameters())
    elements = []
    with torch.no_grad():
        for name, v in values.items():
            m = _ELEMENT.match(name)
            if m:
                elements.append((m["name"], int(m["index"]), float(v)))
                continue
            if name not in params:
                raise KeyError(f"no parameter named {name!r}")
            p = params[name]
            t = torch.as_tensor(v, dtype=p.dtype)
            if t.numel() == 1:
                p.fill_(float(t))
            elif tuple(t.shape) != tuple(p.shape):
                raise ValueError(
                    f"{name}: shape {tuple(t.shape)} does not match {tuple(p.shape)}"
                )
            else:
                p.copy_(t)
        for name, i, v in elements:
            if name not in params:
                raise KeyError(f"no parameter named {name!r}")
            flat = params[name].view(-1)
            if i >= flat.numel():
                raise IndexError(f"{name}[{i}]: the parameter has {flat.numel()} elements")
            flat[i] = v


def load_checkpoint(model, checkpoint: str) -> None:
    """As build_sam.py's _load_checkpoint: the "model" key, strict."""
    import torch

    try:
        sd = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        sd = torch.load(checkpoint, map_location="cpu")
    if not isinstance(sd, dict) or "model" not in sd:
        raise ValueError(f"{checkpoint}: not a SAM 2 checkpoint (no 'model' key)")
    missing, unexpected = model.load_state_dict(sd["model"], strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{checkpoint}: does not match the config: missing {list(missing)[:8]}"
            f"{'...' if len(missing) > 8 else ''}, unexpected {list(unexpected)[:8]}"
            f"{'...' if len(unexpected) > 8 else ''}"
        )


# ---------------------------------------------------------------------------
# Public builders.


def round_params_to_fp16(model) -> None:
    """Round every parameter to the nearest fp16-representable float32.

    For committed fixtures: the exporter can then store weights as fp16 and
    Cast them back to the identical float32 values (half the file size, same
    fp32 arithmetic).
    """
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())


def _build(variant, target, checkpoint, seed, depth_override, overrides,
           base_overrides, param_values, sam2_src, extra, fp16_representable=False,
           image_size=None, edgetam_src=None):
    import torch

    if checkpoint is not None and (seed is not None or depth_override):
        raise ValueError("checkpoint excludes seed/depth_override (random weights)")
    if checkpoint is None and seed is None:
        raise ValueError("need a checkpoint or a seed for random weights")
    cfg = load_config(variant, sam2_src, edgetam_src)
    cfg = dict(cfg)
    for k, v in base_overrides.items():
        _set_dotted(cfg, k, v)
    for k, v in (overrides or {}).items():
        _set_dotted(cfg, k, v)
    for k, v in extra.items():
        _set_dotted(cfg, k, v)
    depth = apply_depth_override(cfg, depth_override or {})
    if image_size is not None:
        apply_image_size(cfg, image_size)
    if target:
        cfg["_target_"] = target
    if seed is not None:
        torch.manual_seed(seed)
    trunk = cfg["image_encoder"]["trunk"]
    timm_depth = trunk.pop("vidseg_timm_depth", None)
    _state["timm_kwargs"] = {"depth": tuple(timm_depth)} if timm_depth else None
    try:
        model = instantiate(cfg)
    finally:
        _state["timm_kwargs"] = None
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    else:
        randomize_constant_params(model, seed)
    if param_values:
        set_params(model, param_values)
    if fp16_representable:
        round_params_to_fp16(model)
    model = model.to("cpu").eval()
    model.vidseg_build_info = {
        "variant": canonical_variant(variant),
        "family": family_of(variant),
        "checkpoint": checkpoint,
        "seed": seed,
        "depth": depth,
        "depth_reduced": bool(depth_override),
        "fp16_representable": bool(fp16_representable),
        "image_size_override": image_size,
        "param_values": dict(param_values or {}),
        "standins": list(_state.get("standins", [])),
        "config": cfg,
    }
    return model


def build_model(variant: str, checkpoint: Optional[str] = None,
                seed: Optional[int] = None,
                depth_override: Optional[Mapping[str, Any]] = None,
                overrides: Optional[Mapping[str, Any]] = None,
                param_values: Optional[Mapping[str, Any]] = None,
                apply_postprocessing: bool = True,
                sam2_src: Optional[str] = None,
                fp16_representable: bool = False,
                image_size: Optional[int] = None,
                edgetam_src: Optional[str] = None):
    """SAM2Base as build_sam.build_sam2 makes it (eval mode, CPU).

    checkpoint: official .pt (state dict under "model"), or None with seed.
    seed: random weights: torch.manual_seed(seed) before construction, then
      randomize_constant_params.
    depth_override: see apply_depth_override.
    overrides: {dotted.key: value} on the model config, like hydra `++`.
    param_values: {param name: value} set after init, e.g. {OBJ_SCORE_BIAS: 5.0}.
    fp16_representable: round all weights to fp16 values (fixtures; see
      round_params_to_fp16).
    image_size: input resolution instead of the config's 1024 (see
      apply_image_size); None keeps the config.
    """
    base = POSTPROCESSING_OVERRIDES if apply_postprocessing else {}
    return _build(variant, None, checkpoint, seed, depth_override, overrides,
                  base, param_values, sam2_src, {}, fp16_representable, image_size,
                  edgetam_src)


def build_video_predictor(variant: str, checkpoint: Optional[str] = None,
                          seed: Optional[int] = None,
                          depth_override: Optional[Mapping[str, Any]] = None,
                          overrides: Optional[Mapping[str, Any]] = None,
                          param_values: Optional[Mapping[str, Any]] = None,
                          apply_postprocessing: bool = True,
                          sam2_src: Optional[str] = None,
                          fp16_representable: bool = False,
                          image_size: Optional[int] = None,
                          edgetam_src: Optional[str] = None,
                          **predictor_kwargs):
    """The official SAM2VideoPredictor as build_sam2_video_predictor makes it.

    predictor_kwargs (fill_hole_area, non_overlap_masks, ...) go to the
    constructor, after the postprocessing overrides.
    """
    base = VIDEO_POSTPROCESSING_OVERRIDES if apply_postprocessing else {}
    return _build(variant, "sam2.sam2_video_predictor.SAM2VideoPredictor",
                  checkpoint, seed, depth_override, overrides, base,
                  param_values, sam2_src, predictor_kwargs, fp16_representable,
                  image_size, edgetam_src)


def add_args(p: argparse.ArgumentParser) -> None:
    """The shared model-selection flags (used by export.py and trace scripts)."""
    p.add_argument("--sam2-src", default=None,
                   help="official sam2 source checkout (env SAM2_SRC; default ../ext/sam2)")
    p.add_argument("--edgetam-src", default=None,
                   help="variant edgetam: official EdgeTAM source checkout "
                        "(env EDGETAM_SRC; default ../ext/EdgeTAM)")
    p.add_argument("--timm-src", default=None,
                   help="variant edgetam: timm source checkout when timm is not "
                        "installed (env TIMM_SRC; default ../ext/timm)")
    p.add_argument("--variant", required=True, help=", ".join(VARIANTS))
    p.add_argument("--checkpoint", default=None, help="official .pt checkpoint")
    p.add_argument("--random-seed", type=int, default=None,
                   help="seeded random weights instead of a checkpoint")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="build a SAM 2 model and print a summary")
    add_args(ap)
    ap.add_argument("--stages", default=None, help="e.g. 1,1,2,1")
    a = ap.parse_args()
    depth = {"stages": [int(x) for x in a.stages.split(",")]} if a.stages else None
    m = build_model(a.variant, a.checkpoint,
                    a.random_seed if a.checkpoint is None else None, depth,
                    sam2_src=a.sam2_src)
    n = sum(p.numel() for p in m.parameters())
    print(f"{type(m).__name__} {m.vidseg_build_info['variant']}: {n} params, "
          f"depth {m.vidseg_build_info['depth']}, stand-ins {m.vidseg_build_info['standins']}")
