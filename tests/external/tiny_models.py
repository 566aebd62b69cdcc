"""Tiny random causal LMs saved locally, one directory per revision: stand-ins for a hub model's
checkpoints (e.g. Pythia's step branches), which the tests cannot download."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig,
                          LlamaForCausalLM)

from regeo.tokenizer import train_bpe

WORDS = ("the model reads news reports and recipes and reviews of films while the crowd "
         "sings lyrics about rain and light in the old town square every evening").split()
PAD_ROWS = 5  # vocabulary padding past the tokenizer, as Pythia pads 50277 tokens to 50304 rows


def tiny_tokenizer():
    texts = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(40)) for i in range(60)]
    return train_bpe(texts, vocab_size=300)


def tiny_model(vocab_rows: int, seed: int, arch: str = "neox", hidden_size: int = 16):
    """A random one-block causal LM: ``neox`` (Pythia's architecture: separate input and output
    matrices), ``gpt2`` (GPT-2's: tied, learned positions) or ``llama`` (tied)."""
    torch.manual_seed(seed)
    if arch == "neox":
        config = GPTNeoXConfig(vocab_size=vocab_rows, hidden_size=hidden_size, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=2 * hidden_size, max_position_embeddings=64)
        return GPTNeoXForCausalLM(config).eval()
    if arch == "gpt2":
        config = GPT2Config(vocab_size=vocab_rows, n_embd=hidden_size, n_layer=1, n_head=2, n_positions=64)
        return GPT2LMHeadModel(config).eval()
    config = LlamaConfig(vocab_size=vocab_rows, hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=2 * hidden_size, max_position_embeddings=64, tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def save_revisions(root: Path, steps, arch: str = "neox", tokenizer=None, hidden_size: int = 16) -> dict[int, Path]:
    """root/step{S} for each step: a different random model each, the same tokenizer beside it."""
    tokenizer = tokenizer or tiny_tokenizer()
    out = {}
    for step in steps:
        directory = Path(root) / f"step{step}"
        tiny_model(len(tokenizer) + PAD_ROWS, seed=1000 + step, arch=arch,
                   hidden_size=hidden_size).save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        out[step] = directory
    return out


def tiny_llama(vocab_rows: int, seed: int, tied: bool = True):
    """A Llama 32 wide: GGUF's Q8_0 quantises rows in blocks of 32 values."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_rows, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=64, max_position_embeddings=64,
                         tie_word_embeddings=tied, rms_norm_eps=1e-5, rope_theta=10000.0)
    return LlamaForCausalLM(config).eval()


def _llama_cpp_permute(weight, n_head: int):
    """llama.cpp's order of the query and key rows (convert_hf_to_gguf.py's permute), which
    transformers' GGUF reader undoes."""
    return weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:]).swapaxes(1, 2) \
        .reshape(weight.shape)


def write_gguf(model, tokenizer, path: Path, embedding_type: str = "Q8_0", matrix_type: str = "F32") -> Path:
    """A Llama ``model`` and its byte-level BPE ``tokenizer`` as a GGUF file, the way llama.cpp's
    converter lays it out: the token embedding quantised to ``embedding_type``, the other
    matrices to ``matrix_type``, norms in float32."""
    import gguf
    import numpy as np

    cfg = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_vocab_size(cfg.vocab_size)
    vocab = tokenizer.get_vocab()
    tokens = [None] * cfg.vocab_size
    for token, i in vocab.items():
        tokens[i] = token
    tokens = [t if t is not None else f"<pad{i}>" for i, t in enumerate(tokens)]
    backend = json_model(tokenizer)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in tokenizer.all_special_tokens or t.startswith("<pad") else 1 for t in tokens])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in backend["model"]["merges"]])
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_unk_token_id(tokenizer.unk_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)

    def add(name, tensor, kind):
        array = tensor.detach().float().numpy().astype(np.float32)
        qtype = gguf.GGMLQuantizationType[kind]
        data = array if kind == "F32" else gguf.quants.quantize(array, qtype)
        writer.add_tensor(name, data, raw_shape=data.shape if kind == "F32" else None, raw_dtype=qtype)

    state = model.state_dict()
    add("token_embd.weight", state["model.embed_tokens.weight"], embedding_type)
    add("output_norm.weight", state["model.norm.weight"], "F32")
    if not cfg.tie_word_embeddings:
        add("output.weight", state["lm_head.weight"], embedding_type)
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    for layer in range(cfg.num_hidden_layers):
        prefix = f"model.layers.{layer}."
        add(f"blk.{layer}.attn_norm.weight", state[prefix + "input_layernorm.weight"], "F32")
        add(f"blk.{layer}.ffn_norm.weight", state[prefix + "post_attention_layernorm.weight"], "F32")
        for hf, ours in names.items():
            weight = state[prefix + hf + ".weight"]
            if ours == "attn_q":
                weight = _llama_cpp_permute(weight, cfg.num_attention_heads)
            elif ours == "attn_k":
                weight = _llama_cpp_permute(weight, cfg.num_key_value_heads)
            add(f"blk.{layer}.{ours}.weight", weight, matrix_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def json_model(tokenizer) -> dict:
    import json

    return json.loads(tokenizer.backend_tokenizer.to_str())
