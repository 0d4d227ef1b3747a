"""Records -> turns (each schema) and turns -> ids + loss mask (default template, chat template)."""

from __future__ import annotations

import copy

import pytest

from data_pipeline import DataError
from data_pipeline.encode import Encoder
from data_pipeline.records import BadRecord, Turn, normalize_record

try:
    from .data_fixtures import spm_dir, tokenizer  # noqa: F401
except ImportError:
    from data_fixtures import spm_dir, tokenizer  # noqa: F401

CONVERSATION = [
    Turn("system", "you write code"),
    Turn("user", "sum of x"),
    Turn("assistant", "return sum(x)"),
    Turn("user", "and max"),
    Turn("assistant", "return max(x)"),
]


def test_each_schema_normalises_to_the_same_turns():
    mftcoder = {
        "chat_rounds": [
            {"role": "system", "content": "you write code"},
            {"role": "human", "content": "sum of x"},
            {"role": "bot", "content": "return sum(x)"},
            {"role": "human", "content": "and max"},
            {"role": "bot", "content": "return max(x)"},
        ]
    }
    chat = {"messages": [{"role": t.role, "content": t.content, "name": "ignored"} for t in CONVERSATION]}
    for schema in ("auto", "mftcoder"):
        assert normalize_record(mftcoder, schema) == CONVERSATION
    for schema in ("auto", "chat"):
        assert normalize_record(chat, schema) == CONVERSATION
    plain = {"prompt": "sum of x", "completion": "return sum(x)"}
    assert normalize_record(plain, "auto") == normalize_record(plain, "plain") == CONVERSATION[1:3]


@pytest.mark.parametrize(
    "record, schema, reason, detail",
    [
        ([1], "auto", "not_object", "line is a JSON array, not an object"),
        ({"text": "x"}, "auto", "unknown_schema", "record has none of the keys chat_rounds, messages, prompt/completion"),
        ({"chat_rounds": "hi"}, "auto", "bad_fields", "'chat_rounds' is not a list (got a JSON string)"),
        ({"chat_rounds": ["hi"]}, "auto", "bad_fields", "chat_rounds[0] is not an object"),
        ({"chat_rounds": [{"role": 1, "content": "x"}]}, "auto", "bad_fields", "chat_rounds[0].role is not a string"),
        ({"chat_rounds": [{"role": "user", "content": "x"}]}, "auto", "bad_fields", "role 'user' is not one of system, human, bot"),
        ({"messages": [{"role": "assistant"}]}, "auto", "bad_fields", "messages[0].content is missing"),
        ({"messages": [{"role": "assistant", "content": None}]}, "auto", "bad_fields", "content is not a string (got a JSON null)"),
        ({"messages": [{"role": "user", "content": "x"}]}, "auto", "no_answer", "record has no answer turn (bot/assistant/completion)"),
        ({"prompt": "x"}, "auto", "no_answer", "record has no answer turn"),
        ({"prompt": "x", "completion": 3}, "auto", "bad_fields", "'completion' is not a string (got a JSON number)"),
        ({"messages": []}, "mftcoder", "bad_fields", "record has no 'chat_rounds' list (data.schema is 'mftcoder')"),
    ],
)
def test_bad_records_have_reason_and_detail(record, schema, reason, detail):
    with pytest.raises(BadRecord) as err:
        normalize_record(record, schema)
    assert err.value.reason == reason
    assert detail in err.value.detail


def ids(tok, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False)


def learned_spans(token_ids: list[int], mask: list[int]) -> list[list[int]]:
    """Maximal runs of tokens with mask 1."""
    spans, current = [], []
    for token, m in zip(token_ids, mask):
        if m:
            current.append(token)
        elif current:
            spans.append(current)
            current = []
    return spans + ([current] if current else [])


def test_default_template_exact_ids_and_mask(tokenizer):
    token_ids, mask = Encoder(tokenizer, "auto").encode([Turn("user", "sum of x"), Turn("assistant", "return sum(x)")])
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    prompt = [bos] + ids(tokenizer, "<|user|>\n") + ids(tokenizer, "sum of x\n") + ids(tokenizer, "<|assistant|>\n")
    answer = ids(tokenizer, "return sum(x)") + [eos]
    assert token_ids == prompt + answer
    assert mask == [0] * len(prompt) + [1] * len(answer)


def test_default_template_multi_turn_learns_every_answer(tokenizer):
    token_ids, mask = Encoder(tokenizer, "auto").encode(CONVERSATION)
    eos = tokenizer.eos_token_id
    assert learned_spans(token_ids, mask) == [ids(tokenizer, "return sum(x)") + [eos], ids(tokenizer, "return max(x)") + [eos]]
    assert tokenizer.decode(token_ids) == (
        "<s><|system|>\nyou write code\n<|user|>\nsum of x\n<|assistant|>\nreturn sum(x)</s>"
        "<|user|>\nand max\n<|assistant|>\nreturn max(x)</s>"
    )


def test_literal_special_token_text_in_a_record_stays_text(tokenizer):
    token_ids, _ = Encoder(tokenizer, "auto").encode([Turn("user", "q"), Turn("assistant", "a</s>b")])
    assert token_ids.count(tokenizer.eos_token_id) == 1 and token_ids[-1] == tokenizer.eos_token_id


TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ '[' + m['role'] + ']\n' + m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '[assistant]\n' }}{% endif %}"
)


@pytest.fixture
def templated(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = TEMPLATE
    return tok


def test_chat_template_masks_answers_and_their_closing_text(templated):
    token_ids, mask = Encoder(templated, "auto").encode(CONVERSATION)
    messages = [{"role": t.role, "content": t.content} for t in CONVERSATION]
    assert templated.decode(token_ids) == templated.apply_chat_template(messages, tokenize=False)
    assert token_ids[0] == templated.bos_token_id
    eos = templated.eos_token_id
    assert learned_spans(token_ids, mask) == [
        ids(templated, "return sum(x)") + [eos] + ids(templated, "\n"),
        ids(templated, "return max(x)") + [eos] + ids(templated, "\n"),
    ]


def test_chat_template_setting_default_ignores_the_template(templated, tokenizer):
    assert Encoder(templated, "default").encode(CONVERSATION) == Encoder(tokenizer, "auto").encode(CONVERSATION)


def test_template_that_is_not_prefix_stable_is_rejected(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = "{% for m in messages %}{% if loop.last %}LAST {% endif %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(DataError, match=r'set data.chat_template="default"'):
        Encoder(tok, "auto").encode(CONVERSATION)


def test_template_exception_is_a_bad_record(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system') }}{% endif %}x"
    with pytest.raises(BadRecord) as err:
        Encoder(tok, "auto").encode(CONVERSATION)
    assert err.value.reason == "template_error" and "no system" in err.value.detail
