"""Steering on the decoder layouts of Llama (SmolLM2), GPT-NeoX (Pythia) and GPT-2, each found
generically: tiny random models of each architecture measure a vector and are steered by one."""

from __future__ import annotations

import pytest
import torch
from transformers import (GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig,
                          LlamaForCausalLM)

from regeo.steering.inject import decoder_layers, steer
from regeo.steering.vectors import mean_activation, steering_vector
from regeo.tokenizer import train_bpe

TEXTS = ["the old town square sings every evening", "news reports and recipes and reviews of films",
         "rain and light in the crowd"]


def build(arch: str):
    torch.manual_seed(0)
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=16, num_hidden_layers=3,
                                             num_attention_heads=2, intermediate_size=32, max_position_embeddings=64))
        return model.eval(), model.model.layers
    if arch == "neox":
        model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=300, hidden_size=16, num_hidden_layers=3,
                                                 num_attention_heads=2, intermediate_size=32, max_position_embeddings=64))
        return model.eval(), model.gpt_neox.layers
    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_embd=16, n_layer=3, n_head=2, n_positions=64))
    return model.eval(), model.transformer.h


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe([" ".join(TEXTS)] * 20, vocab_size=300)


@pytest.mark.parametrize("arch", ["llama", "neox", "gpt2"])
def test_the_decoder_blocks_are_found_without_their_attribute_name(arch):
    model, blocks = build(arch)
    assert decoder_layers(model) is blocks


@pytest.mark.parametrize("arch", ["llama", "neox", "gpt2"])
def test_each_architecture_measures_a_vector_and_is_steered_by_it(arch, tokenizer):
    model, _ = build(arch)
    layer = 1
    vector = steering_vector(model, tokenizer, TEXTS[:2], TEXTS[2:], layer)
    assert vector.shape == (16,) and vector.norm() > 0
    ids = torch.tensor([tokenizer.encode(TEXTS[0])])
    with torch.no_grad():
        plain = model(ids).logits
        with steer(model, vector, layer, alpha=4.0):
            steered = model(ids).logits
            # the block's output as the next blocks see it is shifted by alpha * v at every position
            shifted = mean_activation(model, tokenizer, TEXTS[:1], layer)
        after = model(ids).logits
    assert (steered - plain).abs().max() > 1e-3
    torch.testing.assert_close(after, plain)  # the hook is gone
    base = mean_activation(model, tokenizer, TEXTS[:1], layer)
    torch.testing.assert_close(shifted - base, 4.0 * vector, rtol=1e-4, atol=1e-5)


def test_a_model_without_a_block_list_is_refused():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    model.config = LlamaConfig(num_hidden_layers=2)
    with pytest.raises(TypeError, match="no list of config.num_hidden_layers = 2 blocks"):
        decoder_layers(model)
