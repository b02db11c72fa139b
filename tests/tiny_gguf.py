"""Write a tiny random Llama as a real GGUF file, so the GGUF path is tested offline and in seconds.

The layout follows llama.cpp's converter (tensor names, Q/K row permutation, byte-level "gpt2"
tokenizer), so transformers' GGUF reader must undo it exactly: a test can compare logits with the
source model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFValueType, GGUFWriter, Keys
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from decoding.personal.gguf_adapter import HF_LINEAR_TO_GGUF, permute_rows
from tests.tiny_models import make_byte_tokenizer, make_tiny_llama

_LAYER_TENSORS = {
    **HF_LINEAR_TO_GGUF,
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}
_CONTROL, _NORMAL = 3, 1


class _Writer(GGUFWriter):
    """gguf's writer refuses empty arrays, but llama.cpp requires the merges key of a "gpt2" vocabulary
    even when there are none (a pure byte vocabulary): write an empty typed array."""

    def _pack_val(
        self, val: Any, vtype: GGUFValueType, add_vtype: bool, sub_type: GGUFValueType | None = None
    ) -> bytes:
        if vtype == GGUFValueType.ARRAY and sub_type is not None and len(val) == 0:
            return (
                (self._pack("I", vtype) if add_vtype else b"")
                + self._pack("I", sub_type)
                + self._pack("Q", 0)
            )
        return super()._pack_val(val, vtype, add_vtype, sub_type)


def write_tiny_gguf(
    path: Path, seed: int = 3, chat_template: bool = True, model: LlamaForCausalLM | None = None
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """Write ``model`` (default: a 2-layer seeded Llama) as a float32 GGUF to ``path``; returns the model
    and tokenizer it was made from."""
    tokenizer = make_byte_tokenizer()
    model = model if model is not None else make_tiny_llama(seed=seed, num_layers=2)
    config = model.config
    writer = _Writer(str(path), "llama")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(10000.0)

    vocab = sorted(tokenizer.get_vocab(), key=tokenizer.get_vocab().__getitem__)
    specials = set(tokenizer.all_special_tokens)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(vocab)
    writer.add_token_types([_CONTROL if token in specials else _NORMAL for token in vocab])
    writer.add_token_scores([0.0] * len(vocab))
    # No merges (a pure byte vocabulary), but llama.cpp refuses a "gpt2" vocabulary without the key;
    # add_token_merges drops empty arrays, so write the empty one explicitly.
    writer.add_key_value(Keys.Tokenizer.MERGES, [], GGUFValueType.ARRAY, sub_type=GGUFValueType.STRING)
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    if chat_template:
        writer.add_chat_template(tokenizer.chat_template)

    weights = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    writer.add_tensor("token_embd.weight", weights["model.embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", weights["model.norm.weight"])
    for layer in range(config.num_hidden_layers):
        for hf_name, gguf_name in _LAYER_TENSORS.items():
            weight = weights[f"model.layers.{layer}.{hf_name}.weight"]
            if gguf_name == "attn_q":
                weight = permute_rows(weight, config.num_attention_heads)
            elif gguf_name == "attn_k":
                weight = permute_rows(weight, config.num_key_value_heads)
            writer.add_tensor(f"blk.{layer}.{gguf_name}.weight", np.ascontiguousarray(weight))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model, tokenizer
