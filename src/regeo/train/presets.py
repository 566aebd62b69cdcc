"""Model size presets: LlamaConfig fields for each named size.

Every preset is Llama-style (RoPE, SwiGLU, RMSNorm, no biases), the architecture of the register
study's models (Myntti et al. 2025), so that steering hooks and embedding access are the same
for every run. ``vocab_size`` and ``max_position_embeddings`` come from the tokenizer and the
training config, not from the preset.
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    # The offline default: trains in seconds on one CPU core.
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=256, tie_word_embeddings=False),
    # Twice as wide and deep as tiny: the default's cross-width pair for Emb2Emb transfer.
    "mini": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                 intermediate_size=512, tie_word_embeddings=False),
    # GPT-2-small scale (~124M parameters with the GPT-2 vocabulary).
    "124m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=2048, tie_word_embeddings=True),
    # The register study's model: 24 layers, 2048 wide, tied embeddings (~1.71B with GPT-2's vocabulary).
    "llama-1.7b": dict(hidden_size=2048, num_hidden_layers=24, num_attention_heads=32,
                       intermediate_size=8192, tie_word_embeddings=True),
}

_COMMON = dict(hidden_act="silu", rms_norm_eps=1e-5, rope_theta=10000.0, attention_bias=False,
               mlp_bias=False, attention_dropout=0.0, initializer_range=0.02)


def resolve_preset(name: str, overrides: dict[str, dict] | None = None) -> dict:
    """The full LlamaConfig fields of preset ``name`` (config overrides win)."""
    table = {**PRESETS, **(overrides or {})}
    if name not in table:
        raise KeyError(f"unknown preset '{name}'; known presets: {sorted(table)}")
    base = dict(PRESETS.get(name, {}))
    base.update((overrides or {}).get(name, {}))
    return {**_COMMON, **base}


def parameter_count(fields: dict, vocab_size: int) -> int:
    """Parameters of a Llama model with these fields (embeddings counted once when tied)."""
    d, layers, ff = fields["hidden_size"], fields["num_hidden_layers"], fields["intermediate_size"]
    kv = fields.get("num_key_value_heads") or fields["num_attention_heads"]
    head = d // fields["num_attention_heads"]
    attention = d * d * 2 + 2 * d * kv * head
    per_layer = attention + 3 * d * ff + 2 * d
    embeddings = vocab_size * d * (1 if fields.get("tie_word_embeddings") else 2)
    return layers * per_layer + embeddings + d
