"""JSONL records -> normalised conversations.

A record becomes a list of `Turn(role, content)` with role in system / user / assistant. Three
record schemas are accepted (docs/design.md, "Records"):

- MFTCoder: ``{"chat_rounds": [{"role": "system"|"human"|"bot", "content": "..."}, ...]}``
- chat:     ``{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}``
- plain:    ``{"prompt": "...", "completion": "..."}``

With schema "auto" each record is detected by its keys (chat_rounds, then messages, then
prompt/completion). A record that cannot be used raises `BadRecord` with a short reason code
(counted when bad records are skipped) and a description; the caller adds file, line and fix.
Besides malformed records, two that parse but would train the wrong thing are refused: an empty
answer (`"completion": ""` teaches end-of-sequence only) and a conversation that ends on a
user or system turn (its last turn would be context that nothing learns from).
"""

from __future__ import annotations

import codecs
import json
from typing import BinaryIO, Iterator, NamedTuple

import jsonlines

from .choices import did_you_mean
from .errors import DataError

ROLES = ("system", "user", "assistant")
_ROLE_NAMES = {
    "mftcoder": {"system": "system", "human": "user", "bot": "assistant"},
    "chat": {"system": "system", "user": "user", "assistant": "assistant"},
}
_TURNS_KEY = {"mftcoder": "chat_rounds", "chat": "messages"}
_BOM = codecs.BOM_UTF8


class Turn(NamedTuple):
    """One turn of a conversation; role is one of ROLES."""

    role: str
    content: str


class BadRecord(Exception):
    """A record that cannot be used. `reason` is a stable code, `detail` says what is wrong."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    def __reduce__(self):  # travels between pool processes; the default would lose `reason`
        return BadRecord, (self.reason, self.detail)


def read_jsonl(path: str) -> Iterator[tuple[int, object]]:
    """Yield (line number, parsed JSON value or BadRecord) for every non-blank line of `path`.

    Lines are decoded one by one (by `jsonlines`) so that a stray non-UTF-8 byte costs one
    record, not the file. A UTF-8 byte-order mark at the start of the file is ignored, and so is
    one at the start of a line or an RFC 7464 record separator (jsonlines reads those).
    """
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; fix the path in data.tasks") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a JSONL file; list the files in data.tasks") from None
    lines = _NumberedLines(handle)
    with handle, jsonlines.Reader(lines, loads=json.loads) as reader:
        while True:
            try:
                value = reader.read(allow_none=True, skip_empty=True)
            except EOFError:
                return
            except jsonlines.InvalidLineError as err:
                yield err.lineno, _bad_line(err)
                continue
            yield lines.number, value


class _NumberedLines:
    """A binary file's lines for `jsonlines.Reader`, without their line ends and the file's
    byte-order mark; `number` is the last line's, which the reader reports for bad lines only."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.number = 0

    def __iter__(self) -> Iterator[bytes]:
        for self.number, line in enumerate(self.handle, start=1):
            if self.number == 1 and line.startswith(_BOM):
                line = line[len(_BOM):]
            yield line.rstrip(b"\r\n")


def _bad_line(err: "jsonlines.InvalidLineError") -> BadRecord:
    cause = err.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return BadRecord("invalid_utf8",
                         f"line is not valid UTF-8 (byte 0x{cause.object[cause.start]:02x} at byte {cause.start + 1})")
    if isinstance(cause, json.JSONDecodeError):
        return BadRecord("invalid_json", f"invalid JSON ({cause.msg} at column {cause.colno})")
    return BadRecord("invalid_json", f"invalid JSON ({err})")


def detect_schema(record: dict) -> str:
    """Name the schema of `record` from its keys, or raise BadRecord if it has none of them."""
    if "chat_rounds" in record:
        return "mftcoder"
    if "messages" in record:
        return "chat"
    if "prompt" in record or "completion" in record:
        return "plain"
    keys = ", ".join(sorted(record)[:5]) or "none"
    raise BadRecord(
        "unknown_schema", f"record has none of the keys chat_rounds, messages, prompt/completion (has: {keys})"
    )


def normalize_record(record: object, schema: str) -> list[Turn]:
    """Turn one parsed JSON value into a conversation; `schema` is "auto" or a schema name."""
    if not isinstance(record, dict):
        raise BadRecord("not_object", f"line is a JSON {_json_type(record)}, not an object")
    if schema == "auto":
        schema = detect_schema(record)
    turns = _plain_turns(record) if schema == "plain" else _round_turns(record, schema)
    if not any(turn.role == "assistant" for turn in turns):
        raise BadRecord("no_answer", "record has no answer turn (bot/assistant/completion)")
    where = (lambda i: "'completion'") if schema == "plain" else (lambda i: f"{_TURNS_KEY[schema]}[{i}].content")
    for i, turn in enumerate(turns):
        if turn.role == "assistant" and not turn.content.strip():
            raise BadRecord("empty_answer", f"{where(i)} is empty, which would teach the model to answer with "
                                            "end-of-sequence only; write the answer or drop the record")
    if turns[-1].role != "assistant":
        raise BadRecord("ends_on_user", f"the conversation ends on a {turns[-1].role} turn, which no answer follows "
                                        "and nothing learns from; end it with an answer or drop the last turn")
    return turns


def _round_turns(record: dict, schema: str) -> list[Turn]:
    key = _TURNS_KEY[schema]
    names = _ROLE_NAMES[schema]
    rounds = record.get(key)
    if rounds is None:
        raise BadRecord("bad_fields", f"record has no {key!r} list (data.schema is {schema!r})")
    if not isinstance(rounds, list):
        raise BadRecord("bad_fields", f"{key!r} is not a list (got a JSON {_json_type(rounds)})")
    turns = []
    for i, item in enumerate(rounds):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise BadRecord("bad_fields", f"{where} is not an object (got a JSON {_json_type(item)})")
        role = item.get("role")
        if not isinstance(role, str):
            raise BadRecord("bad_fields", f"{where}.role {_not_a_string(item, 'role')}")
        if role not in names:
            raise BadRecord("bad_fields", f"{where}.role {role!r} is not one of {', '.join(names)}"
                                          f"{did_you_mean(role, names)}")
        content = item.get("content")
        if not isinstance(content, str):
            raise BadRecord("bad_fields", f"{where}.content {_not_a_string(item, 'content')}")
        turns.append(Turn(names[role], content))
    return turns


def _plain_turns(record: dict) -> list[Turn]:
    prompt = record.get("prompt")
    if not isinstance(prompt, str):
        raise BadRecord("bad_fields", f"'prompt' {_not_a_string(record, 'prompt')}")
    if "completion" not in record:
        return [Turn("user", prompt)]
    completion = record["completion"]
    if not isinstance(completion, str):
        raise BadRecord("bad_fields", f"'completion' {_not_a_string(record, 'completion')}")
    return [Turn("user", prompt), Turn("assistant", completion)]


def _not_a_string(obj: dict, key: str) -> str:
    if key not in obj:
        return "is missing"
    return f"is not a string (got a JSON {_json_type(obj[key])})"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
