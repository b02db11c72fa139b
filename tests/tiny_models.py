"""Tiny, seeded, random-weight models and a byte-level tokenizer built in-process.

Tests never download: these stand in for real checkpoints wherever only the mechanics matter
(speculation bookkeeping, model resolution, UI plumbing).
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_byte_tokenizer() -> PreTrainedTokenizerFast:
    """One token per byte (GPT-2 byte alphabet) plus chat specials: any text round-trips exactly."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    for tok in SPECIALS:
        vocab[tok] = len(vocab)
    raw = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    raw.decoder = decoders.ByteLevel()
    raw.add_special_tokens(SPECIALS)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|im_end|>", bos_token="<|im_start|>", pad_token="<|endoftext|>"
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def tiny_config(vocab_size: int, num_layers: int = 4, eos_token_id: int | None = None) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=eos_token_id,
        tie_word_embeddings=True,
    )


def make_tiny_llama(seed: int = 0, num_layers: int = 4, vocab_size: int | None = None) -> LlamaForCausalLM:
    """A seeded random Llama in float32, eval mode, matching :func:`make_byte_tokenizer`'s vocabulary."""
    tok_vocab = len(make_byte_tokenizer())
    vocab = vocab_size or tok_vocab
    eos = make_byte_tokenizer().eos_token_id
    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_config(vocab, num_layers, eos_token_id=eos))
    model.generation_config.eos_token_id = eos
    return model.eval()
