"""Exclusive self-attention's projection (identity "exclusive"), per head and token:

    y' = y - c v,   c = <y, v> / <v, v>        (y = A v, the attention output; v the token's own value)

so y' is y with its component along v removed. `composite` writes it as autograd sees it (normalise v, then
project). `exclusive` is the same map with its gradient written out, so each pass reads its inputs once:

    forward:   the two dot products <y, v> and <v, v> of a row, then y - c v
    backward:  with g = dL/dy' and d = <g, v> / <v, v>,
               dL/dy = g - d v                           (the projection is symmetric)
               dL/dv = -c g - d (y - 2 c v)              (c's own derivative: (y - 2 c v) / <v, v>)

one dot product <g, v> and pointwise work, keeping only y, v and two scalars per row for backward. Compiled,
each pass is one fused kernel with one reduction; autograd's graph of `composite` recomputes the norm and
takes several reductions. The results agree to rounding; the model uses `exclusive` on GPUs only, so CPU
results stay byte-identical (Attention.fused_xsa). In a compiled seed ensemble (vmap inside torch.compile)
the compiler inlines this Function's forward and differentiates it, never calling `backward` (pytorch#129845:
vmap's batched tensors report no grad); the gradient is the same map's, from the compiler's derivative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-12  # F.normalize's: <v, v> is floored at EPS^2, as its norm is at EPS


def composite(y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    v_hat = F.normalize(v, dim=-1, eps=EPS)
    return y - (y * v_hat).sum(-1, keepdim=True) * v_hat


class _Exclusive(torch.autograd.Function):
    generate_vmap_rule = True  # a seed ensemble runs it under torch.func.vmap

    @staticmethod
    def forward(y, v):
        acc = torch.promote_types(y.dtype, torch.float32)  # the row sums in fp32 at least (bf16 inputs)
        va = v.to(acc)
        vv = (va * va).sum(-1, keepdim=True).clamp_min(EPS * EPS)
        c = (y.to(acc) * va).sum(-1, keepdim=True) / vv
        return y - (c * v).to(y.dtype), c, vv

    @staticmethod
    def setup_context(ctx, inputs, output):
        y, v = inputs
        _, c, vv = output
        ctx.mark_non_differentiable(c, vv)
        ctx.save_for_backward(y, v, c, vv)

    @staticmethod
    def backward(ctx, g, _c, _vv):
        y, v, c, vv = ctx.saved_tensors
        d = (g.to(c.dtype) * v.to(c.dtype)).sum(-1, keepdim=True) / vv
        grad_y = g - (d * v).to(g.dtype)
        grad_v = -(c * g + d * (y - 2 * c * v)).to(v.dtype)
        return grad_y, grad_v


def exclusive(y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return _Exclusive.apply(y, v)[0]
