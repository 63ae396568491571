from unrolled.models.transformer import ModelConfig, Transformer

__all__ = ["ModelConfig", "Transformer"]
