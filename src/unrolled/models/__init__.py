from unrolled.models.ensemble import Ensemble
from unrolled.models.transformer import ModelConfig, Transformer

__all__ = ["Ensemble", "ModelConfig", "Transformer"]
