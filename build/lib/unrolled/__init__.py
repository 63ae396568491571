"""Reproduction pipeline for transformers read as unrolled optimisation.

Ravuri & Lawrence (arXiv:2507.21040): attention as a Laplacian step, y = A·v − v.
Wang et al. (arXiv:2506.03790): attention-only transformers as unrolled subspace denoising.
"""

__version__ = "0.1.0"
