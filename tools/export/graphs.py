"""The four exported graphs as thin nn.Modules over an official SAM2Base.

Each wrapper reproduces one step of sam2_base.SAM2Base exactly as the
reference orchestrates it (file/function named per class) and returns the
tensors named in docs/model-package.md. They are also the PyTorch side of the
exporter's self-check and of the reference tensors.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


class ImageEncoder(nn.Module):
    """SAM2Base.forward_image + _prepare_backbone_features (top 3 levels)."""

    input_names = ["image"]
    output_names = ["feat_s0", "feat_s1", "vision_feat", "vision_pos"]

    def __init__(self, model):
        super().__init__()
        self.model = model
        # torch.onnx.export restores the wrapper's train/eval mode on all
        # children afterwards: a training-mode wrapper would turn on dropout.
        self.eval()

    def forward(self, image):
        out = self.model.forward_image(image)
        fpn = out["backbone_fpn"][-self.model.num_feature_levels:]
        pos = out["vision_pos_enc"][-self.model.num_feature_levels:]
        return fpn[0], fpn[1], fpn[-1], pos[-1]


@contextlib.contextmanager
def row_chunked_blocks(model, max_tokens=128 * 128):
    """Export the trunk's windowed blocks on more than max_tokens tokens as
    that many row bands, one after the other.

    A windowed Hiera block is local: norms and MLP act per token, attention
    within windows, the q-pooling of a stage change within 2x2 cells. Bands
    of whole windows therefore give the same result as the whole map, while
    ONNX Runtime holds one band's activations at a time: on the 1024-px
    stage 1 (256x256 tokens) the MLP's hidden layer alone is 100 MB per
    tensor. Global-attention blocks and maps whose rows are not a whole
    number of windows run as they are.
    """
    patched = []
    # EdgeTAM's RepViT trunk has no windowed blocks: nothing to band.
    for blk in getattr(model.image_encoder.trunk, "blocks", ()):
        if blk.window_size <= 0:
            continue
        orig = blk.forward

        def forward(x, orig=orig, ws=blk.window_size):
            h, w = int(x.shape[1]), int(x.shape[2])
            if h * w <= max_tokens or h % ws:
                return orig(x)
            rows = max(ws, (max_tokens // w) // ws * ws)
            if h % rows:
                return orig(x)
            return torch.cat([orig(band) for band in torch.split(x, rows, dim=1)], dim=1)

        blk.forward = forward
        patched.append((blk, orig))
    try:
        yield len(patched)
    finally:
        for blk, orig in patched:
            blk.forward = orig


@contextlib.contextmanager
def reparameterized_trunk(model):
    """Export EdgeTAM's RepViT trunk with its training-time branches folded.

    A RepViT token mixer computes bn(conv3x3(x) + conv1x1(x) + x) and each
    ConvNorm a convolution and a BatchNorm: timm's fuse() folds each into one
    convolution (RepViT's deploy form), the same function up to rounding, so
    the graph runs one depthwise convolution where it ran two, two adds and
    a scale. The model itself is left as built, so the exporter's self-check
    still compares the graph with the official (unfused) module. SAM 2's
    Hiera trunk has nothing to fold.
    """
    trunk = model.image_encoder.trunk
    body = getattr(trunk, "body", None)
    if body is None or not any(hasattr(m, "fuse") for m in body.modules()):
        yield False
        return
    import copy

    from timm.utils.model import reparameterize_model

    fused = reparameterize_model(copy.deepcopy(body)).eval()
    trunk.body = fused
    try:
        yield True
    finally:
        trunk.body = body


@contextlib.contextmanager
def folded_high_res_projections(model):
    """Export the two high-resolution feature levels with one 1x1 convolution
    each instead of two.

    FpnNeck passes levels 0 and 1 (not top-down levels) through a 1x1 lateral
    convolution to d_model channels, and forward_image then projects them with
    the mask decoder's conv_s0 / conv_s1 (1x1, to 32 and 64 channels). Two
    affine maps in a row are one: W = W_s W_lat, b = W_s b_lat + b_s, so the
    graph never writes the 256-channel 256x256 map (67 MB) and does a tenth of
    the products. Same values up to rounding.
    """
    neck = model.image_encoder.neck
    dec = model.sam_mask_decoder
    n = len(neck.convs) - 1
    patched = []

    def pointwise(conv):
        return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1)
                and conv.stride == (1, 1) and conv.padding in ((0, 0), 0)
                and conv.groups == 1 and conv.bias is not None)

    if model.use_high_res_features_in_sam:
        for level, name in ((0, "conv_s0"), (1, "conv_s1")):
            lateral = neck.convs[n - level].conv
            proj = getattr(dec, name)
            if level in neck.fpn_top_down_levels or not (pointwise(lateral) and pointwise(proj)):
                continue
            w_lat = lateral.weight[:, :, 0, 0]
            w_s = proj.weight[:, :, 0, 0]
            fused = nn.Conv2d(lateral.in_channels, proj.out_channels, 1)
            with torch.no_grad():
                fused.weight.copy_((w_s @ w_lat)[:, :, None, None])
                fused.bias.copy_(w_s @ lateral.bias + proj.bias)
            neck.convs[n - level].conv = fused
            setattr(dec, name, nn.Identity())
            patched.append((level, name, lateral, proj))
    try:
        yield len(patched)
    finally:
        for level, name, lateral, proj in patched:
            neck.convs[n - level].conv = lateral
            setattr(dec, name, proj)


CHANNELS_LAST_MIN_CHANNELS = 64


@contextlib.contextmanager
def channels_last_norms(model):
    """Export each LayerNorm2d (memory encoder, mask decoder, prompt encoder)
    as LayerNormalization over the last axis between two transposes.

    LayerNorm2d normalizes over the channels of an NCHW map, written out as
    mean, subtract, square, mean, add, sqrt, divide, scale and shift: nine
    passes, the two means over a strided axis. On [N, H, W, C] the same
    normalization is one LayerNormalization node (same statistics, the
    variance as the mean of squared deviations), and ONNX Runtime cancels the
    transposes that meet another (CXBlock permutes to NHWC right after its
    norm). Same values up to rounding.

    Maps with fewer than CHANNELS_LAST_MIN_CHANNELS channels (the mask
    downsamplers' 4- and 16-channel maps at 512 and 256 px) keep the
    ReduceMean form: there LayerNormalization's per-row cost over a million
    rows of 4 values outweighs the passes (ONNX Runtime, 2 threads: 12.3
    against 2.4 ms at 4 channels, 5.3 against 2.0 at 16, 2.7 against 3.5 at
    64).
    """
    from sam2.modeling.sam2_utils import LayerNorm2d

    import torch.nn.functional as F

    def channels_last(m):
        shape = (int(m.weight.shape[0]),)  # a constant: a traced x.shape[1] would not be

        def forward(x):
            y = F.layer_norm(x.permute(0, 2, 3, 1), shape, m.weight, m.bias, m.eps)
            return y.permute(0, 3, 1, 2)
        return forward

    mods = []
    for owner in (model.memory_encoder, model.sam_mask_decoder, model.sam_prompt_encoder):
        mods += [m for m in owner.modules()
                 if isinstance(m, LayerNorm2d) and m.weight.shape[0] >= CHANNELS_LAST_MIN_CHANNELS]
    for m in mods:
        m.forward = channels_last(m)
    try:
        yield len(mods)
    finally:
        for m in mods:
            del m.forward


class _RowsIn(nn.Module):
    """linear1 of a memory-attention MLP on the tokens as rows of a matrix."""

    def __init__(self, linear):
        super().__init__()
        self.linear = linear
        self.shape = None

    def forward(self, x):
        self.shape = x.shape
        return nn.functional.linear(x.reshape(-1, x.shape[-1]), self.linear.weight, self.linear.bias)


class _RowsOut(nn.Module):
    """linear2 of that MLP, back to the tokens' shape."""

    def __init__(self, linear, rows_in):
        super().__init__()
        self.linear = linear
        self.rows_in = rows_in

    def forward(self, x):
        y = nn.functional.linear(x, self.linear.weight, self.linear.bias)
        return y.reshape(self.rows_in.shape[:-1] + (y.shape[-1],))


@contextlib.contextmanager
def matrix_mlp(model):
    """Export each memory-attention layer's MLP on a [tokens, channels] matrix.

    On the 3-D [batch, tokens, channels] tensor the exporter writes MatMul,
    Add (bias) and Relu, three passes over the 4096 x 2048 hidden layer per
    object per layer; as a matrix it writes Gemm (bias inside) then Relu, which
    ONNX Runtime fuses into one FusedGemm. Same products, same order.
    """
    patched = []
    for layer in getattr(model.memory_attention, "layers", ()):
        l1, l2 = layer.linear1, layer.linear2
        rows_in = _RowsIn(l1)
        layer.linear1, layer.linear2 = rows_in, _RowsOut(l2, rows_in)
        patched.append((layer, l1, l2))
    try:
        yield len(patched)
    finally:
        for layer, l1, l2 in patched:
            layer.linear1, layer.linear2 = l1, l2


@contextlib.contextmanager
def shared_first_self_attention(model):
    """Run the first memory-attention layer's self-attention once per frame.

    MemoryAttention (the wrapper) gives every object of a frame the same
    current-frame tokens and positions, and a layer's self-attention reads
    nothing else; only its cross-attention reads an object's memory. So the
    first layer's self-attention (norm, projections, RoPE, 4096 x 4096 scores,
    residual) is the same for all B objects: computed on the first and
    broadcast, it costs one object's work at any B. Later layers' inputs
    differ per object and run batched as before.
    """
    layers = getattr(model.memory_attention, "layers", ())
    if not layers:
        yield False
        return
    first = layers[0]
    orig = first._forward_sa

    if model.memory_attention.batch_first:  # [B, tokens, C] (sam2's and EdgeTAM's configs)
        def forward_sa(tgt, query_pos):
            return orig(tgt[:1], query_pos[:1]).expand(tgt.shape[0], -1, -1)
    else:  # [tokens, B, C]
        def forward_sa(tgt, query_pos):
            return orig(tgt[:, :1], query_pos[:, :1]).expand(-1, tgt.shape[1], -1)

    first._forward_sa = forward_sa
    try:
        yield True
    finally:
        del first._forward_sa


class MaskDecoder(nn.Module):
    """SAM2Base._forward_sam_heads up to the object pointer, for all 4 tokens.

    MaskDecoder.predict_masks returns every token's mask/IoU (forward would
    slice by multimask_output and apply the stability fallback: left to the
    caller). obj_ptr is obj_ptr_proj(token) for each token, not blended with
    no_obj_ptr.
    """

    input_names = ["image_embed", "feat_s0", "feat_s1", "point_coords",
                   "point_labels", "mask_input", "has_mask_input"]
    output_names = ["masks", "iou", "obj_ptr", "object_score"]

    def __init__(self, model):
        super().__init__()
        self.model = model
        # torch.onnx.export restores the wrapper's train/eval mode on all
        # children afterwards: a training-mode wrapper would turn on dropout.
        self.eval()

    def forward(self, image_embed, feat_s0, feat_s1, point_coords, point_labels,
                mask_input, has_mask_input):
        # B objects of one frame: image_embed, prompts and mask inputs are
        # per object [B,...]; the high-res levels are the frame's [1,...] and
        # broadcast (predict_masks adds them to the upscaled [B,...] maps).
        pe = self.model.sam_prompt_encoder
        sparse = pe._embed_points(point_coords, point_labels, pad=True)
        h, w = pe.image_embedding_size
        no_mask = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, h, w)
        dense = torch.where(has_mask_input.reshape(-1, 1, 1, 1) > 0.5,
                            pe._embed_masks(mask_input), no_mask)
        masks, iou, tokens, object_score = self.model.sam_mask_decoder.predict_masks(
            image_embeddings=image_embed,
            image_pe=pe.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            repeat_image=False,
            high_res_features=[feat_s0, feat_s1],
        )
        if not self.model.pred_obj_scores:
            # SAM 2.0 configs without an object head: always "present" (+10).
            object_score = 10.0 * iou.new_ones(iou.shape[0], 1)
        obj_ptr = self.model.obj_ptr_proj(tokens)
        return masks, iou, obj_ptr, object_score


class MemoryEncoder(nn.Module):
    """SAM2Base._encode_new_memory (eval, no non-overlap constraint)."""

    input_names = ["pix_feat", "mask_high_res", "binarize", "object_score"]
    output_names = ["maskmem_feat", "maskmem_pos"]

    def __init__(self, model):
        super().__init__()
        self.model = model
        # torch.onnx.export restores the wrapper's train/eval mode on all
        # children afterwards: a training-mode wrapper would turn on dropout.
        self.eval()

    def forward(self, pix_feat, mask_high_res, binarize, object_score):
        # B objects of one frame: masks, binarize and scores per object; the
        # frame's pix_feat [1,...] broadcasts where the encoder adds the
        # downsampled masks to its projection.
        m = self.model
        mask = torch.where(binarize.reshape(-1, 1, 1, 1) > 0.5,
                           (mask_high_res > 0).float(),
                           torch.sigmoid(mask_high_res))
        if m.sigmoid_scale_for_mem_enc != 1.0:
            mask = mask * m.sigmoid_scale_for_mem_enc
        if m.sigmoid_bias_for_mem_enc != 0.0:
            mask = mask + m.sigmoid_bias_for_mem_enc
        out = m.memory_encoder(pix_feat, mask, skip_mask_sigmoid=True)
        feat = out["vision_features"]
        if m.no_obj_embed_spatial is not None:
            is_obj = (object_score > 0).float()
            feat = feat + (1 - is_obj[..., None, None]) * m.no_obj_embed_spatial[
                ..., None, None
            ].expand(*feat.shape)
        pos = out["vision_pos_enc"][-1]
        if getattr(m, "spatial_perceiver", None) is not None:
            # EdgeTAM: each memory frame compressed to latents [B, L, mem_dim]
            # and their positions (zeros for the 1D latents, the sine of the
            # 2D latent grid), as _encode_new_memory stores them.
            feat, pos = m.spatial_perceiver(feat, pos)
        if m.no_obj_embed_spatial is None:
            # Unused by this model; times 0 so that the graph keeps the input
            # (torch drops unused ones) and every package has one interface.
            feat = feat + 0 * object_score.reshape([-1] + [1] * (feat.dim() - 1))
        return feat, pos


class MemoryAttention(nn.Module):
    """SAM2Base._prepare_memory_conditioned_features, step 2 (with memory).

    Memory frames: features/pos flattened (HW)BC in the given order, pos +
    maskmem_tpos_enc[num_maskmem - slot - 1]; then object pointers: tpos
    = obj_ptr_tpos_proj(get_1d_sine_pe(offset / (max_obj_ptrs - 1))), each
    pointer split into C/mem_dim tokens; RoPE skips the 4P pointer tokens.
    """

    input_names = ["curr_feat", "curr_pos", "mem_feat", "mem_pos", "mem_slot",
                   "ptr", "ptr_offset"]
    output_names = ["conditioned_feat"]

    def __init__(self, model):
        super().__init__()
        self.model = model
        # torch.onnx.export restores the wrapper's train/eval mode on all
        # children afterwards: a training-mode wrapper would turn on dropout.
        self.eval()

    def forward(self, curr_feat, curr_pos, mem_feat, mem_pos, mem_slot, ptr, ptr_offset):
        from sam2.modeling.sam2_utils import get_1d_sine_pe

        # B objects of one frame with M memory frames and P pointers each:
        # the frame's curr_feat/curr_pos [1,...] are shared; the batch is the
        # reference's B dimension of the (L)BC sequences.
        m = self.model
        _, C, H, W = curr_feat.shape
        B = mem_feat.shape[0]
        mem_dim = m.mem_dim
        curr = curr_feat.flatten(2).permute(2, 0, 1).expand(-1, B, -1)
        cpos = curr_pos.flatten(2).permute(2, 0, 1).expand(-1, B, -1)
        tpos = m.maskmem_tpos_enc[m.num_maskmem - mem_slot - 1]  # [B,M,1,1,mem_dim]
        tpos = tpos.flatten(2).permute(1, 0, 2).unsqueeze(1)  # [M,1,B,mem_dim]
        kw = {}
        if mem_feat.dim() == 4:
            # EdgeTAM: [B, M, L, C'] perceiver latents -> [M*L, B, C'], and the
            # cross-attention's RoPE needs the frame count (num_spatial_mem).
            feats = mem_feat.permute(1, 2, 0, 3).flatten(0, 1)
            pos = (mem_pos.permute(1, 2, 0, 3) + tpos).flatten(0, 1)
            kw["num_spatial_mem"] = mem_feat.shape[1]
        else:
            # [B, M, C', H, W] -> [M*HW, B, C'] in frame order, as torch.cat of
            # the per-frame (HW)BC tensors.
            feats = mem_feat.flatten(3).permute(1, 3, 0, 2).flatten(0, 1)
            pos = (mem_pos.flatten(3).permute(1, 3, 0, 2) + tpos).flatten(0, 1)
        memory, memory_pos = [feats], [pos]
        num_ptr_tokens = 0
        if m.use_obj_ptrs_in_encoder:
            obj_ptrs = ptr.permute(1, 0, 2)  # [P, B, C]
            if m.add_tpos_enc_to_obj_ptrs:
                t_diff_max = m.max_obj_ptrs_in_encoder - 1
                tpos_dim = C if m.proj_tpos_enc_in_obj_ptrs else mem_dim
                obj_pos = get_1d_sine_pe(ptr_offset / t_diff_max, dim=tpos_dim)
                obj_pos = m.obj_ptr_tpos_proj(obj_pos).permute(1, 0, 2)  # [P, B, mem_dim]
            else:
                # No temporal encoding (EdgeTAM): zeros. ptr_offset stays an
                # input of the graph (times 0) so every package has one interface.
                obj_pos = torch.zeros_like(obj_ptrs[..., :mem_dim]) + (
                    0 * ptr_offset.permute(1, 0)[..., None])
            if mem_dim < C:
                # [P, B, C] -> [P*(C/mem_dim), B, mem_dim], pointer-major.
                obj_ptrs = obj_ptrs.reshape(-1, B, C // mem_dim, mem_dim)
                obj_ptrs = obj_ptrs.permute(0, 2, 1, 3).flatten(0, 1)
                # = repeat_interleave(C // mem_dim, dim=0), whose ONNX export
                # fails for P = 0 (empty sequence).
                obj_pos = obj_pos.unsqueeze(1).expand(-1, C // mem_dim, -1, -1)
                obj_pos = obj_pos.flatten(0, 1)
            memory.append(obj_ptrs)
            memory_pos.append(obj_pos)
            num_ptr_tokens = obj_ptrs.shape[0]
        out = m.memory_attention(
            curr=[curr],
            curr_pos=[cpos],
            memory=torch.cat(memory, dim=0),
            memory_pos=torch.cat(memory_pos, dim=0),
            num_obj_ptr_tokens=num_ptr_tokens,
            **kw,
        )
        return out.permute(1, 2, 0).reshape(-1, C, H, W)


def wrappers(model):
    return {
        "image_encoder": ImageEncoder(model),
        "mask_decoder": MaskDecoder(model),
        "memory_encoder": MemoryEncoder(model),
        "memory_attention": MemoryAttention(model),
    }


# Dynamic axes per graph (docs/model-package.md): B is the objects of one
# frame (format vidseg-sam2/2).
DYNAMIC_AXES = {
    "image_encoder": {},
    "mask_decoder": {"image_embed": {0: "B"}, "point_coords": {0: "B", 1: "N"},
                     "point_labels": {0: "B", 1: "N"}, "mask_input": {0: "B"},
                     "has_mask_input": {0: "B"}, "masks": {0: "B"}, "iou": {0: "B"},
                     "obj_ptr": {0: "B"}, "object_score": {0: "B"}},
    "memory_encoder": {"mask_high_res": {0: "B"}, "binarize": {0: "B"},
                       "object_score": {0: "B"}, "maskmem_feat": {0: "B"},
                       "maskmem_pos": {0: "B"}},
    # mem_feat/mem_pos: [B, M, C', F, F], or [B, M, L, C'] latents for EdgeTAM.
    # mem_pos's batch is its own symbol: the runtime gives one set for all
    # objects (batch 1). Named B, it tells ONNX Runtime's memory planner that
    # it is as large as mem_feat's, which then reuses buffers of the wrong
    # size ("Shape mismatch attempting to re-use buffer").
    "memory_attention": {"mem_feat": {0: "B", 1: "M"}, "mem_pos": {0: "B_pos", 1: "M"},
                         "mem_slot": {0: "B", 1: "M"}, "ptr": {0: "B", 1: "P"},
                         "ptr_offset": {0: "B", 1: "P"}, "conditioned_feat": {0: "B"}},
}
