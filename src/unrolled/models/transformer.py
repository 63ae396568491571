"""One pre-LN transformer whose attention can be switched between the two papers' readings.

    attention  "mhsa": separate q, k, v projections (GPT-2 / ViT)
               "mssa": one projection per head used as q = k = v (Wang et al.'s MSSA, as in CRATE)
    mssa_output  "learned" output projection, or "tied" to the head bases [U_1 ... U_K]
    identity   "none": y = A v;  "subtract": y = A v - v (Ravuri & Lawrence's Laplacian step);
               "learned": y = A v - a v with one a = sigmoid(theta) in (0, 1) for the whole model;
               "exclusive": y = A v - (<A v, v> / <v, v>) v per head and token (Zhai et al.'s XSA):
               only the part of A v along the token's own value is removed, so y is orthogonal to v
    mlp        "gelu": 4x GELU MLP; "none": attention-only (AoT)
    loss_chunk  lm: 0, or train through a fused LM head + cross-entropy over that many rows at a time
               (models/chunked_loss.py), so a large vocabulary's logits never exist whole
    init       "gpt2": N(0, 0.02) weights, residual projections scaled by the number of branches (nanoGPT);
               "torch": PyTorch's own defaults (Linear and Conv2d Kaiming-uniform, Embedding N(0, 1)) and
               the ViT's position and CLS embeddings N(0, 1), as paper 1's ViT code (its imagenet.py);
               "gpt2_torch_io": regression: "gpt2" inside, PyTorch's defaults for the read-in and read-out
               layers, as Garg et al.'s code (two nn.Linear around a Hugging Face GPT-2)
    task       "lm": causal, token + learned positions, tied head;
               "vit": conv patches + LayerNorm, CLS token, learned positions, no mask;
               "regression": in-context regression (Garg et al. 2022): the prompt x1, y1, ..., xk, yk
               is read in as 2k vectors (y as [y, 0, ..., 0]), causal, learned positions, and a
               linear head predicts y_i at x_i's position from the i - 1 pairs before it

Every variant goes through F.scaled_dot_product_attention; A - I and XSA act on the fused output and v,
so the T x T matrix is never built. With SDPA's dropout this is the authors' order: dropout on A, then - v.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from unrolled.config import ModelConfig
from unrolled.models import xsa
from unrolled.models.chunked_loss import linear_cross_entropy


class Attention(nn.Module):
    # XSA's projection with its gradient written out (models/xsa.py): None uses it on GPUs only, so CPU results
    # stay byte-identical; True or False forces it (tests, benchmarks/step_time.py's xsa_composite).
    fused_xsa: bool | None = None

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.shared_qkv = cfg.attention == "mssa"
        self.identity = cfg.identity
        self.causal = cfg.task != "vit"
        if self.shared_qkv:
            self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)  # rows of head k: U_k^T
        else:
            self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.tied_output = self.shared_qkv and cfg.mssa_output == "tied"
        if not self.tied_output:
            self.out = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def heads(self, x: torch.Tensor):
        """q, k, v as (B, n_head, T, head_dim); for MSSA all three are the same tensor."""
        B, T, C = x.shape
        split = lambda t: t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # noqa: E731
        if self.shared_qkv:
            u = split(self.proj(x))
            return u, u, u
        q, k, v = self.qkv(x).split(C, dim=2)
        return split(q), split(k), split(v)

    def forward(self, x: torch.Tensor, identity_scale: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.heads(x)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal
        )
        if self.identity == "subtract":
            y = y - v
        elif self.identity == "learned":
            y = y - identity_scale * v
        elif self.identity == "exclusive":  # XSA: project A v off the unit direction of v
            fused = v.is_cuda if self.fused_xsa is None else self.fused_xsa
            y = xsa.exclusive(y, v) if fused else xsa.composite(y, v)
        y = y.transpose(1, 2).reshape(B, T, C)
        # Tied MSSA output: sum_k U_k y_k, the transpose of the shared projection.
        y = F.linear(y, self.proj.weight.t()) if self.tied_output else self.out(y)
        return self.resid_dropout(y)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.out = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.out(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_attn = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = Attention(cfg)
        self.mlp = MLP(cfg) if cfg.mlp == "gelu" else None
        self.ln_mlp = nn.LayerNorm(cfg.n_embd, bias=cfg.bias) if self.mlp else None

    def forward(self, x, identity_scale=None):
        x = x + self.attn(self.ln_attn(x), identity_scale)
        if self.mlp is not None:
            x = x + self.mlp(self.ln_mlp(x))
        return x


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.n_embd
        if cfg.task in ("lm", "regression"):
            if cfg.task == "lm":
                self.tok_emb = nn.Embedding(cfg.vocab_size, d)
            else:
                self.read_in = nn.Linear(cfg.n_dims, d)
            self.pos_emb = nn.Embedding(cfg.block_size, d)
            self.emb_dropout = nn.Dropout(cfg.dropout)
        else:
            n_patches = (cfg.image_size // cfg.patch_size) ** 2
            self.patch_emb = nn.Conv2d(cfg.channels, d, cfg.patch_size, stride=cfg.patch_size)
            self.patch_norm = nn.LayerNorm(d, bias=cfg.bias)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
            self.pos_emb = nn.Parameter(torch.zeros(1, n_patches + 1, d))
            self.emb_dropout = nn.Dropout(cfg.emb_dropout)
        if cfg.identity == "learned":
            self.identity_logit = nn.Parameter(torch.tensor(float(cfg.identity_init)))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(d, bias=cfg.bias)
        if cfg.task == "lm":
            self.head = nn.Linear(d, cfg.vocab_size, bias=False)
            self.head.weight = self.tok_emb.weight  # weight tying, as GPT-2
        elif cfg.task == "regression":
            self.head = nn.Linear(d, 1)
        else:
            self.head = nn.Linear(d, cfg.num_classes)
        if cfg.init == "torch":  # every module keeps PyTorch's default; the ViT's embeddings are N(0, 1)
            if cfg.task == "vit":
                nn.init.normal_(self.pos_emb, std=1.0)
                nn.init.normal_(self.cls_token, std=1.0)
            return
        self.apply(self._init_weights)
        # GPT-2's scaled init of the projections into the residual stream, counting the actual number
        # of residual branches (attention-only models have half as many).
        branches = cfg.n_layer * (2 if cfg.mlp == "gelu" else 1)
        for name, p in self.named_parameters():
            if name.endswith(("attn.out.weight", "mlp.out.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(branches))
        if cfg.task == "vit":
            nn.init.normal_(self.pos_emb, std=0.02)
            nn.init.normal_(self.cls_token, std=0.02)
        if cfg.init == "gpt2_torch_io":  # Garg et al.'s read-in and read-out sit outside GPT-2's own init
            self.read_in.reset_parameters()
            self.head.reset_parameters()

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding, nn.Conv2d)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    @property
    def identity_scale(self) -> torch.Tensor | None:
        """a in y = A v - a v, when it is learned."""
        return torch.sigmoid(self.identity_logit) if self.cfg.identity == "learned" else None


    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # tied weights counted once

    def member_state_dict(self, k: int = 0) -> dict[str, torch.Tensor]:
        """The weights of member k (of the one member a plain model is)."""
        return self.state_dict()

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        return torch.nn.utils.clip_grad_norm_(self.parameters(), max_norm)

    def estimate_mfu(self, items_per_second: float, peak_flops: float) -> float:
        """Model FLOPs utilisation: the training FLOPs of `items_per_second` (every member's, for an
        ensemble) over the device's peak FLOP/s (config.H100_BF16_FLOPS)."""
        return items_per_second * self.flops_per_item() / peak_flops

    def flops_per_item(self, members: int = 1) -> float:
        """Training FLOPs (forward and backward) per item a sampler counts (an LM's token; a whole image or
        regression prompt), counted as torch.utils.flop_counter counts them: 2 per multiply-add of every
        matrix product a token goes through, attention's Q Kᵀ and A V over the full T x T (what the kernel
        is charged for), and the backward pass twice the forward. Unlike nanoGPT's 6N + 12 L d T this
        leaves out what costs no matmul (position and CLS embeddings, norms, biases), applies the LM head
        to every token but a ViT's head once per image and the patch embedding to the patches only, and
        counts a tied MSSA output (its projection used twice) twice. `members`: an ensemble's stacked
        weights hold that many members."""
        cfg = self.cfg

        def weights(module) -> int:
            return module.weight.numel() // members

        per_token = sum(weights(m) for m in self.blocks.modules() if isinstance(m, nn.Linear))
        if cfg.attention == "mssa" and cfg.mssa_output == "tied":
            per_token += sum(weights(block.attn.proj) for block in self.blocks)
        attention = 4 * cfg.n_layer * cfg.n_embd  # x T x T per sequence: Q Kᵀ and A V
        if cfg.task == "lm":  # per token; the embedding lookup costs no matmul
            return 3 * (2 * (per_token + weights(self.head)) + attention * cfg.block_size)
        if cfg.task == "vit":
            patches = (cfg.image_size // cfg.patch_size) ** 2
            T, read_in = patches + 1, patches * weights(self.patch_emb)
            forward = 2 * (T * per_token + weights(self.head)) + attention * T * T
        else:  # regression: x and y read in at every position, the head at the k x positions
            T = cfg.block_size
            read_in = T * weights(self.read_in)
            forward = 2 * (T * per_token + T // 2 * weights(self.head)) + attention * T * T
        # The read-in's backward computes its weights' gradient only (the data need none): 2x, not 3x.
        return 3 * forward + 2 * 2 * read_in

    def embed(self, x: torch.Tensor, ys: torch.Tensor | None = None) -> torch.Tensor:
        if self.cfg.task == "regression":
            # Interleave x_i and [y_i, 0, ...]: position 2i holds x_i, position 2i + 1 holds y_i.
            if ys is None:
                raise ValueError("task regression: the prompt's y values are needed as `targets`")
            y_rows = F.pad(ys.unsqueeze(-1), (0, x.size(-1) - 1))
            x = torch.stack([x, y_rows], dim=2).flatten(1, 2)
        if self.cfg.task in ("lm", "regression"):
            T = x.size(1)
            if T > self.cfg.block_size:
                raise ValueError(f"sequence length {T} exceeds block_size {self.cfg.block_size}")
            pos = torch.arange(T, device=x.device)
            tokens = self.tok_emb(x) if self.cfg.task == "lm" else self.read_in(x)
            return self.emb_dropout(tokens + self.pos_emb(pos))
        patches = self.patch_norm(self.patch_emb(x).flatten(2).transpose(1, 2))
        cls = self.cls_token.expand(x.size(0), -1, -1)
        return self.emb_dropout(torch.cat([cls, patches], dim=1) + self.pos_emb)

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None):
        """lm: logits (B, T, V) (None with targets and loss_chunk); vit: logits (B, classes); regression:
        predictions (B, k) of each y_i."""
        task = self.cfg.task
        h = self.embed(x, targets if task == "regression" else None)
        scale = self.identity_scale
        for block in self.blocks:
            h = block(h, scale)
        h = self.ln_f(h)
        if task == "regression":
            out = self.head(h[:, ::2]).squeeze(-1)  # read out at the x positions
            return out, F.mse_loss(out, targets)
        if task == "lm" and targets is not None and self.cfg.loss_chunk:  # the logits are never built whole
            return None, linear_cross_entropy(h.reshape(-1, h.size(-1)), self.head.weight, targets.reshape(-1),
                                              self.cfg.loss_chunk)
        logits = self.head(h if task == "lm" else h[:, 0])
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def optimizer_groups(self, weight_decay: float, member_dims: int = 0, decay: str = "matrices") -> list[dict]:
        """nanoGPT's groups (decay "matrices"): matrices and embeddings decay; biases, norms and scalars do
        not. decay "all": every parameter decays (AdamW over model.parameters(), as paper 1's ViT code).

        member_dims: leading dimensions that stack ensemble members (see models/ensemble.py).
        """
        params = [p for p in self.parameters() if p.requires_grad]
        if decay == "all":
            return [{"params": params, "weight_decay": weight_decay}]
        matrices = [p for p in params if p.dim() - member_dims >= 2]
        rest = [p for p in params if p.dim() - member_dims < 2]
        return [{"params": matrices, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
