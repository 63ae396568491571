"""Flat parameter and gradient buffers (train.flat_buffers): each optimizer group's parameters side by side in
one (E, P) buffer, member k's in row k (E = 1 for a single run), and their gradients likewise, so that

    per-member clipping   ||g_k|| = sqrt(sum over groups of ||G[k, :]||^2): one row norm per group, then
                          G[k, :] *= min(1, max_norm / (||g_k|| + 1e-6)): one scale per group
    AdamW                 one fused update per group, over one tensor

instead of a norm and a scale per parameter (2N + 5 launches a step: 83 for paper 1's char LM, N = 39).

The model's parameters stay what they were, now views into the buffers (W_k = row k's slice, reshaped), so
forward, state_dict and checkpoints of weights do not change. Each parameter's .grad is its view into the
gradient buffer; autograd adds a new gradient into a .grad that exists, in place, so after backward the buffer
holds every gradient without a copy. The price: the gradient buffer is zeroed each step (one kernel a group)
rather than dropped, and the backward's gradients are added into it (one pass over them) rather than kept.
Whether that beats the per-parameter launches it saves is for a GPU to measure (docs/benchmarks.md).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn

# Autograd's note when it adds into a .grad whose strides are not those it would have chosen (a member's row of
# a wider buffer): a hint for DistributedDataParallel's buckets, where layout matters; here it is the design.
LAYOUT_NOTE = "grad and param do not obey the gradient layout contract"


class FlatBuffers:
    def __init__(self, groups: list[dict], members: int):
        """groups: the model's optimizer groups (`optimizer_groups`); members: E, the leading dimension every
        parameter of an ensemble stacks its members along (1 for a single run, whose parameters have none)."""
        warnings.filterwarnings("ignore", message=LAYOUT_NOTE)  # once flat buffers exist, not on import
        self.members, self.groups = members, []
        for group in groups:
            params = group["params"]
            if len({(p.dtype, p.device) for p in params}) > 1:
                raise ValueError("train.flat_buffers: a group's parameters must share one dtype and device")
            sizes = [p.numel() // members for p in params]
            data = torch.empty(members, sum(sizes), dtype=params[0].dtype, device=params[0].device)
            grad = torch.zeros_like(data)
            start = 0
            for p, n in zip(params, sizes):
                rows = slice(start, start + n)
                with torch.no_grad():
                    data[:, rows].copy_(p.reshape(members, n))
                p.data = data[:, rows].view(p.shape)  # the parameter becomes a view of its buffer's rows
                p.grad = grad[:, rows].view(p.shape)
                start += n
            flat = nn.Parameter(data)
            flat.grad = grad
            self.groups.append({**group, "params": [flat]})

    @property
    def grads(self) -> list[torch.Tensor]:
        return [group["params"][0].grad for group in self.groups]

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Clip each member's gradient to norm `max_norm`, as torch.nn.utils.clip_grad_norm_ would on that member
        alone; returns the (E,) norms before clipping."""
        norms = torch.stack([torch.linalg.vector_norm(g, dim=1, dtype=torch.float32) for g in self.grads])
        norms = norms.norm(dim=0)
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in self.grads:
            g.mul_(scale.unsqueeze(1).to(g.dtype))
        return norms

    @torch.no_grad()
    def zero_grad(self) -> None:
        """Zero the gradient buffers in place: the parameters' .grad are views of them and must stay so."""
        for g in self.grads:
            g.zero_()
