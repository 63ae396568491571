"""A seed ensemble: E independent copies of one Transformer, trained in one process as one model.

Member k is an ordinary `Transformer`, built from its own seed. The ensemble stacks each parameter of
the E members along a new leading dimension and runs the unchanged `Transformer.forward` under
`torch.func.vmap`, so the model file knows nothing of ensembles:

    W_k  (out, in)          ->  W  (E, out, in)              one batched matmul instead of E small ones
    SDPA on (B, h, T, d)    ->  SDPA on (E * B, h, T, d)     vmap folds E into the batch; fused kernel kept
    dropout                 ->  vmap(randomness="different"): every member draws its own masks

Members never mix. AdamW, weight decay and the learning-rate schedule act elementwise on a parameter,
hence on each member's slice as they would on a single run. The one operation of a training step that
couples all parameters, gradient-norm clipping, is done per member (`clip_grad_norm_`). The loss the
trainer back-propagates is the sum of the members' losses, whose gradient with respect to member k's
slice is member k's own gradient.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn as nn
from torch.func import functional_call, vmap

from unrolled.config import check_seed_group
from unrolled.models.transformer import Transformer

# On the CPU, vmap runs attention once per member (correct, and what the CPU has cores for); GPUs fold the
# members into the fused kernel's batch. The CPU note that says so would repeat at every call.
CPU_ATTENTION_NOTE = r".*batching rule for aten::_scaled_dot_product_flash_attention_for_cpu"


def stack(members: list[Transformer]) -> nn.Module:
    """The model a job of these members trains: the member itself when there is one, else their Ensemble."""
    return members[0] if len(members) == 1 else Ensemble(members)


class Ensemble(nn.Module):
    def __init__(self, members: list[Transformer]):
        super().__init__()
        warnings.filterwarnings("ignore", message=CPU_ATTENTION_NOTE)  # once an ensemble exists, not on import
        self.cfg, self.size = members[0].cfg, len(members)
        check_seed_group(self.cfg.loss_chunk, self.size)
        # The layout: a copy of member 0 whose parameters are replaced by the stacked ones. Tied weights
        # (the LM head and the token embedding) stay one stacked parameter.
        self.model = copy.deepcopy(members[0])
        stacked = {id(p): nn.Parameter(torch.stack([m.get_parameter(name).detach() for m in members]))
                   for name, p in members[0].named_parameters()}
        for name, p in members[0].named_parameters(remove_duplicate=False):
            module, _, leaf = name.rpartition(".")
            setattr(self.model.get_submodule(module), leaf, stacked[id(p)])

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None):
        """x, targets: (E, batch, ...), member k's batch at [k]. Returns each member's (output, loss)."""
        params = dict(self.model.named_parameters())

        def member(p, x, targets):
            return functional_call(self.model, p, (x, targets))

        return vmap(member, randomness="different")(params, x, targets)

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights, as a single run's `Transformer.state_dict()`."""
        return {name: t[k].clone() for name, t in self.model.state_dict().items()}

    def num_params(self) -> int:
        """Parameters of one member."""
        return self.model.num_params() // self.size

    estimate_mfu = Transformer.estimate_mfu  # every member's items at one member's FLOPs each

    def flops_per_item(self) -> float:
        """One member's training FLOPs per item (Transformer.flops_per_item over the stacked weights)."""
        return self.model.flops_per_item(members=self.size)

    @property
    def identity_scale(self) -> torch.Tensor | None:
        """Each member's a in y = A v - a v, when it is learned: shape (E,)."""
        return self.model.identity_scale

    def optimizer_groups(self, weight_decay: float, decay: str = "matrices") -> list[dict]:
        return self.model.optimizer_groups(weight_decay, member_dims=1, decay=decay)

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """torch.nn.utils.clip_grad_norm_ for each member on its own; returns the (E,) norms before clipping."""
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        # (E, -1): a scalar parameter (the learned a) is stacked to shape (E,)
        norms = torch.stack([g.reshape(len(g), -1).float().norm(dim=1) for g in grads]).norm(dim=0)
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *[1] * (g.dim() - 1)).to(g.dtype))
        return norms
