"""regeo: register of pretraining data vs. the geometry of a language model's embeddings."""

__version__ = "0.1.0"
