"""Incremental detokenization never splits a character and adds up to the full decode."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from decoding.engine.detok import IncrementalDetokenizer
from tests.tiny_models import make_byte_tokenizer

TOKENIZER = make_byte_tokenizer()


def decode(ids: list[int]) -> str:
    return TOKENIZER.decode(ids, skip_special_tokens=True)


@given(text=st.text(max_size=40), cuts=st.lists(st.integers(1, 5), max_size=60))
def test_pieces_add_up_and_never_split_a_character(text: str, cuts: list[int]) -> None:
    ids = TOKENIZER(text)["input_ids"]
    detok = IncrementalDetokenizer(TOKENIZER)
    pieces: list[str] = []
    i = 0
    for size in cuts + [len(ids)]:
        pieces.append(detok.push(ids[i : i + size]))
        i += size
    assert "".join(pieces) == text
    assert all("\ufffd" not in piece for piece in pieces)


def test_a_multibyte_character_is_held_until_complete() -> None:
    ids = TOKENIZER("é!")["input_ids"]  # two bytes for é
    detok = IncrementalDetokenizer(TOKENIZER)
    assert detok.push(ids[:1]) == ""
    assert detok.push(ids[1:2]) == "é"
    assert detok.push(ids[2:]) == "!"


def test_partial_text_is_emitted_up_to_the_broken_character() -> None:
    ids = TOKENIZER("ab€")["input_ids"]  # € is three bytes
    detok = IncrementalDetokenizer(TOKENIZER)
    assert detok.push(ids[:3]) == "ab"
    assert detok.push(ids[3:]) == "€"


def test_flush_and_final_release_what_is_held() -> None:
    ids = TOKENIZER("x€")["input_ids"]
    detok = IncrementalDetokenizer(TOKENIZER)
    assert detok.push(ids[:2]) == "x"
    assert detok.flush() == decode(ids[:2])[1:]
    other = IncrementalDetokenizer(TOKENIZER)
    assert other.push(ids[:2], final=True) == decode(ids[:2])


def test_preview_decodes_in_context_without_consuming() -> None:
    ids = TOKENIZER("é")["input_ids"]
    detok = IncrementalDetokenizer(TOKENIZER)
    detok.push(ids[:1])
    assert detok.preview(ids[1:]) == "é"
    assert detok.preview([]) == ""
    assert detok.push(ids[1:]) == "é"


def test_special_tokens_have_no_text() -> None:
    detok = IncrementalDetokenizer(TOKENIZER)
    assert detok.push(TOKENIZER("hi")["input_ids"] + [TOKENIZER.eos_token_id]) == "hi"
