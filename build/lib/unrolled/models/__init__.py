from unrolled.models.ensemble import Ensemble, stack
from unrolled.models.transformer import ModelConfig, Transformer

__all__ = ["Ensemble", "ModelConfig", "Transformer", "stack"]
