"""The LM head and its cross-entropy fused and computed a chunk of rows at a time (model.loss_chunk).

With h the final hidden states (N, d), W the head (V, d) and t the targets, the mean loss and its gradients

    L    = 1/N sum_i [logsumexp(z_i) - z_i,t_i],   z_i = W h_i
    dL/dz_i = (softmax(z_i) - e_t_i) / N
    dL/dh_i = W^T dL/dz_i,   dL/dW = sum_i dL/dz_i h_i^T

are all known once a chunk's logits are, so the forward pass computes them chunk by chunk and keeps only
dL/dh (N, d) and dL/dW (V, d) for the backward pass, which scales them by the incoming gradient. The full
(N, V) logits (GPT-2: 16 x 1024 x 50,304, 3.3 GB in fp32, and their gradient as large) never exist at
once. The matmuls are the unfused path's three (forward, and the backward's two), so the FLOPs are the same.
Under autocast the matmuls run in its dtype and the softmax in fp32, as F.cross_entropy's autocast does.
"""

from __future__ import annotations

import torch


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, targets, chunk: int):
        n, acc = h.size(0), torch.promote_types(h.dtype, torch.float32)  # softmax and sums in fp32 at least
        grads = any(ctx.needs_input_grad[:2])
        total = torch.zeros((), dtype=acc, device=h.device)
        grad_h = torch.empty_like(h) if grads else None
        grad_w = torch.zeros(weight.shape, dtype=acc, device=weight.device) if grads else None
        for start in range(0, n, chunk):
            hc, tc = h[start:start + chunk], targets[start:start + chunk]
            logits = (hc @ weight.t()).to(acc)
            lse = torch.logsumexp(logits, dim=-1)
            total = total + (lse - logits.gather(1, tc[:, None]).squeeze(1)).sum()
            if grads:
                g = torch.exp(logits - lse[:, None])  # softmax
                g[torch.arange(len(tc), device=g.device), tc] -= 1.0
                g = (g / n).to(h.dtype)
                grad_h[start:start + chunk] = g @ weight
                grad_w += g.t() @ hc
        if grads:
            ctx.save_for_backward(grad_h, grad_w.to(weight.dtype))
        return total / n

    @staticmethod
    def backward(ctx, grad_loss):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_loss, grad_w * grad_loss, None, None


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
    """F.cross_entropy(h @ weight.T, targets) (the mean over rows) without the full logits: `chunk` rows of them
    at a time. h (N, d), weight (V, d), targets (N,) of class ids (no ignore index)."""
    device = h.device.type
    if torch.is_autocast_enabled(device):  # cast once here, not per chunk; inside, autocast is off
        dtype = torch.get_autocast_dtype(device)
        h, weight = h.to(dtype), weight.to(dtype)
    with torch.autocast(device, enabled=False):
        return _LinearCrossEntropy.apply(h, weight, targets, chunk)
