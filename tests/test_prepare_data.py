"""launch/prepare_data.py and data_pipeline.converters on small fixtures in the public formats.

Each test writes its own sources: XTREME-UP QA folders, MFTCoder chat_rounds files, Orca-Math
JSONL, Alpaca-cleaned and Instinwild JSON arrays (pretty-printed, as published).
"""
import json
import os
import subprocess
import sys

import pytest

from data_pipeline import converters as cv
from data_pipeline.errors import DataError
from data_pipeline.records import normalize_record, read_jsonl

from launch_helpers import ROOT, checkout_env, load_script

prepare_data = load_script("prepare_data")


def write_jsonl(path, records):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return str(path)


def read_out(folder, task, split):
    return [v for _, v in read_jsonl(os.path.join(folder, f"{task}.{split}.jsonl"))]


def qa(i, lang="en"):
    return {"question": f"q{i} {lang}?", "title": f"T{i}", "context": f"passage {i} ধ", "target": f"a{i}"}


def xtreme_up(tmp_path, langs=("en", "bn"), sizes=(30, 20, 10)):
    root = tmp_path / "xtreme_up_v1.1" / "qa_in_lang"
    for lang in langs:
        for folder, n in zip(("train", "dev", "test"), sizes):
            write_jsonl(str(root / folder / f"{lang}.jsonl"), [qa(f"{folder}{i}", lang) for i in range(n)])
    return root


def chat(i, lang="python"):
    return {"id": i, "chat_rounds": [{"role": "system", "content": "You complete code."},
                                     {"role": "human", "content": f"# {lang} {i}\ndef f{i}("},
                                     {"role": "bot", "content": f"x):\n    return {i}"}]}


def run(argv):
    assert prepare_data.main(argv) == 0


# ---- XTREME-UP --------------------------------------------------------------------------------
def test_xtreme_up_keeps_its_splits_caps_valid_and_writes_qa_prompts(tmp_path):
    src = xtreme_up(tmp_path)
    out = tmp_path / "data"
    run(["xtreme-up", "--input", str(src), "--languages", "en,bn", "--valid-size", "8", "--out", str(out)])
    for lang in ("en", "bn"):
        train, valid, test = (read_out(out, lang, s) for s in cv.SPLITS)
        assert (len(train), len(valid), len(test)) == (30, 8, 10)
        first = train[0]["chat_rounds"]
        assert first[0] == {"role": "human",
                            "content": f"Title: Ttrain0\nContext: passage train0 ধ\nQuestion: qtrain0 {lang}?"}
        assert first[1] == {"role": "bot", "content": "atrain0"}
        assert all(r["chat_rounds"][1]["content"].startswith("adev") for r in valid)  # valid comes from dev
        assert [r["chat_rounds"][1]["content"] for r in test] == [f"atest{i}" for i in range(10)]
        manifest = json.loads((out / f"{lang}.manifest.json").read_text())
        assert manifest["records"] == {"train": 30, "valid": 8, "test": 10} and manifest["read"] == 60
    assert "ধ" in (out / "bn.train.jsonl").read_text(encoding="utf-8")  # non-ASCII written as is


def test_xtreme_up_drops_empty_targets_from_training_but_keeps_the_test_split_whole(tmp_path):
    src = xtreme_up(tmp_path, langs=("sw",), sizes=(6, 6, 4))
    for folder in ("train", "dev", "test"):
        write_jsonl(str(src / folder / "sw.jsonl"), [qa(0), {**qa(1), "target": ""}, qa(2)])
    out = tmp_path / "data"
    run(["xtreme-up", "--input", str(src), "--languages", "sw", "--out", str(out)])
    assert [len(read_out(out, "sw", s)) for s in cv.SPLITS] == [2, 2, 3]
    assert json.loads((out / "sw.manifest.json").read_text())["dropped"] == {"empty_answer": 2}


def test_xtreme_up_accepts_the_release_folder_and_plain_schema(tmp_path):
    xtreme_up(tmp_path, langs=("te",))
    out = tmp_path / "data"
    run(["xtreme-up", "--input", str(tmp_path / "xtreme_up_v1.1"), "--languages", "te", "--schema", "plain",
         "--out", str(out)])
    record = read_out(out, "te", "train")[0]
    assert set(record) == {"prompt", "completion"} and record["completion"] == "atrain0"


def test_xtreme_up_errors_name_the_file_line_and_field(tmp_path):
    src = xtreme_up(tmp_path, langs=("en",))
    bad = dict(qa(2))
    del bad["target"]
    write_jsonl(str(src / "dev" / "en.jsonl"), [qa(0), qa(1), bad])
    with pytest.raises(DataError) as err:
        prepare_data.prepare_xtreme_up(prepare_data.parse_args(
            ["xtreme-up", "--input", str(src), "--languages", "en", "--out", str(tmp_path / "o")]))
    assert str(err.value).startswith(f"{src / 'dev' / 'en.jsonl'}:3: field 'target' is missing")
    with pytest.raises(DataError, match="'xx' is not an XTREME-UP in-language QA language"):
        prepare_data.prepare_xtreme_up(prepare_data.parse_args(
            ["xtreme-up", "--input", str(src), "--languages", "xx", "--out", str(tmp_path / "o")]))
    with pytest.raises(DataError, match="fi.jsonl: file not found"):
        cv.xtreme_up_files(str(src), "fi")


# ---- code task files ----------------------------------------------------------------------------
def test_code_files_are_validated_deduplicated_and_split_reproducibly(tmp_path):
    records = [chat(i) for i in range(40)] + [{**chat(3), "id": 99}]  # a duplicate conversation, new id
    src = write_jsonl(str(tmp_path / "raw" / "python.jsonl"), records)
    outs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        run(["code", "--task", "python", "--input", src, "--valid-size", "5", "--test-size", "0.1",
             "--seed", str(seed), "--out", str(tmp_path / name)])
        outs.append({s: (tmp_path / name / f"python.{s}.jsonl").read_bytes() for s in cv.SPLITS})
    assert outs[0] == outs[1] and outs[0] != outs[2]  # seeded
    splits = {s: read_out(tmp_path / "a", "python", s) for s in cv.SPLITS}
    assert [len(splits[s]) for s in cv.SPLITS] == [31, 5, 4]  # 40 unique: 4 test (10%), 5 valid
    ids = [[r["id"] for r in splits[s]] for s in cv.SPLITS]
    assert sorted(sum(ids, [])) == list(range(40))  # disjoint, complete, records kept as they are
    assert all(part == sorted(part) for part in ids)  # each split in source order
    manifest = json.loads((tmp_path / "a" / "python.manifest.json").read_text())
    assert manifest["duplicates_removed"] == 1 and manifest["read"] == 41


def test_code_split_of_one_task_does_not_depend_on_other_tasks(tmp_path):
    a = cv.split_records([chat(i) for i in range(50)], valid=5, test=5, seed=0, task="go")
    b = cv.split_records([chat(i) for i in range(50)], valid=5, test=5, seed=0, task="go")
    c = cv.split_records([chat(i) for i in range(50)], valid=5, test=5, seed=0, task="js")
    assert a == b and a["valid"] != c["valid"]
    capped = cv.split_records([chat(i) for i in range(50)], valid=5, test=5, train=10, seed=0, task="go")
    assert len(capped["train"]) == 10 and capped["valid"] == a["valid"]


@pytest.mark.parametrize("line, message", [
    ('{"chat_rounds": [{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]}',
     "chat_rounds[0].role 'user' is not one of system, human, bot"),
    ('{"chat_rounds": [{"role": "human", "content": "x"}]}', "record has no answer turn"),
    ('{"messages": [{"role": "user", "content": "x"}]}', "record has no 'chat_rounds' list (has: messages)"),
    ('{"chat_rounds": [{"role": "human", "content": "x"}, ', "invalid JSON"),
    ('[1, 2]', "not an object"),
])
def test_malformed_code_record_is_one_line_error_at_file_line(tmp_path, line, message):
    src = write_jsonl(str(tmp_path / "c.jsonl"), [chat(0), chat(1), line, chat(3)])
    with pytest.raises(DataError) as err:
        cv.convert_file(src, "code")
    text = str(err.value)
    assert text.startswith(f"{src}:3: ") and message in text and "\n" not in text
    skipped = cv.convert_file(src, "code", on_bad="skip")
    assert len(skipped.records) == 3 and sum(skipped.skipped.values()) == 1


def test_cli_reports_a_malformed_record_in_one_line_without_a_traceback(tmp_path):
    src = write_jsonl(str(tmp_path / "c.jsonl"), [chat(0), '{"chat_rounds": 5}'])
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "launch", "prepare_data.py"), "code", "--task", "t",
                           "--input", src, "--out", str(tmp_path / "o")], capture_output=True, text=True,
                          env=checkout_env())
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"mft: error: {src}:2: 'chat_rounds' is not a list (got a JSON number); "
                                   "fix the record or pass --on-bad skip")
    assert not os.path.exists(tmp_path / "o" / "t.train.jsonl")


def test_split_sizes_that_leave_no_training_data_are_refused(tmp_path):
    src = write_jsonl(str(tmp_path / "c.jsonl"), [chat(i) for i in range(10)])
    with pytest.raises(DataError, match="10 records cannot give 5 valid and 5 test"):
        prepare_data.prepare_one(prepare_data.parse_args(
            ["code", "--task", "t", "--input", src, "--valid-size", "5", "--test-size", "5",
             "--out", str(tmp_path / "o")]))
    with pytest.raises(DataError, match="a fraction must be in"):
        cv.resolve_size(1.5, 10, "valid")


# ---- instruction data -----------------------------------------------------------------------------
def test_orca_math_jsonl_becomes_question_answer_conversations(tmp_path):
    rows = [{"question": f"What is {i}+1?", "answer": f"{i}+1 = {i + 1}. The answer is {i + 1}."} for i in range(30)]
    rows.append({"question": "empty answer", "answer": "  "})
    src = write_jsonl(str(tmp_path / "orca.jsonl"), rows)
    out = tmp_path / "mdqa"
    run(["orca-math", "--task", "orca_math", "--input", src, "--valid-size", "3", "--test-size", "3",
         "--out", str(out)])
    splits = {s: read_out(out, "orca_math", s) for s in cv.SPLITS}
    assert [len(splits[s]) for s in cv.SPLITS] == [24, 3, 3]  # 30: the empty answer is dropped
    assert {"chat_rounds": [{"role": "human", "content": "What is 0+1?"},
                            {"role": "bot", "content": "0+1 = 1. The answer is 1."}]} in sum(splits.values(), [])
    assert json.loads((out / "orca_math.manifest.json").read_text())["dropped"] == {"empty_answer": 1}


def test_orca_math_missing_answer_names_file_and_line(tmp_path):
    src = write_jsonl(str(tmp_path / "orca.jsonl"), [{"question": "q", "answer": "a"}, {"question": "q2"}])
    with pytest.raises(DataError) as err:
        cv.convert_file(src, "orca-math")
    assert str(err.value).startswith(f"{src}:2: field 'answer' is missing (record has: question)")


def pretty_array(path, records):
    """A JSON array with indent=4, as alpaca_data_cleaned.json and instinwild_en.json are published."""
    path.write_text(json.dumps(records, indent=4, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_alpaca_json_array_joins_instruction_and_input(tmp_path):
    rows = [{"instruction": f"Do task {i}.", "input": "" if i % 2 else f"input {i}", "output": f"done {i}"}
            for i in range(20)]
    src = pretty_array(tmp_path / "alpaca_data_cleaned.json", rows)
    out = tmp_path / "mdqa"
    run(["alpaca", "--task", "alpaca_cleaned", "--input", src, "--valid-size", "2", "--test-size", "2",
         "--out", str(out)])
    every = sum((read_out(out, "alpaca_cleaned", s) for s in cv.SPLITS), [])
    prompts = {r["chat_rounds"][1]["content"]: r["chat_rounds"][0]["content"] for r in every}
    assert prompts["done 0"] == "Do task 0.\n\ninput 0" and prompts["done 1"] == "Do task 1."
    for record in every:  # what the training pipeline accepts
        assert [t.role for t in normalize_record(record, "auto")] == ["user", "assistant"]


def test_json_array_errors_give_the_line_where_the_bad_element_starts(tmp_path):
    rows = [{"instruction": "a", "input": "", "output": "b"}, {"instruction": "c", "input": 3, "output": "d"}]
    src = pretty_array(tmp_path / "bad.json", rows)
    start = next(i for i, line in enumerate(open(src), start=1) if '"c"' in line) - 1  # the element's "{" line
    with pytest.raises(DataError) as err:
        cv.convert_file(src, "alpaca")
    assert str(err.value).startswith(f"{src}:{start}: field 'input' is not a string (got a JSON number)")
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c" "output": "d"}\n]\n')
    with pytest.raises(DataError, match=rf"^{broken}:3: invalid JSON \(Expecting ','"):
        list(cv.read_source(str(broken)))
    truncated = tmp_path / "truncated.json"
    truncated.write_text('[\n  {"instruction": "a", "output": "b"},\n')
    with pytest.raises(DataError, match="not closed"):
        list(cv.read_source(str(truncated)))


def test_instinwild_accepts_its_extra_fields_and_missing_input(tmp_path):
    rows = [{"instruction": f"Write about {i}", "input": "", "output": f"text {i}", "id": f"seed_task_{i}",
             "annotator": "human"} for i in range(12)]
    rows.append({"instruction": "no input key", "output": "fine"})
    src = pretty_array(tmp_path / "instinwild_en.json", rows)
    got = cv.convert_file(src, "instinwild")
    assert len(got.records) == 13
    assert got.records[-1]["chat_rounds"][0]["content"] == "no input key"
    assert "id" not in got.records[0]  # only the conversation is kept
    # a .json file holding JSON Lines (as some exports are named) is read as such
    lines = write_jsonl(str(tmp_path / "lines.json"), rows[:3])
    assert len(cv.convert_file(lines, "instinwild").records) == 3


def test_missing_input_file_is_a_one_line_error(tmp_path):
    with pytest.raises(DataError, match="file not found; check the --input path"):
        cv.convert_file(str(tmp_path / "nope.jsonl"), "alpaca")
