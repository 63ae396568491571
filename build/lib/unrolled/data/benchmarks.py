"""Zero-shot benchmarks as prepared data sets: `examples.jsonl` in one of three task formats.

    lambada     {"text": passage}; the model must produce the passage's last word
    perplexity  {"text": document}; token-level cross-entropy over the whole document
    cloze       {"context": text, "query": line with XXXXX, "answer": word, "candidates": [10 words]}

Examples stay text: each model tokenizes them with its own tokenizer (GPT-2 BPE for the paper's models,
characters for the CPU models), so one prepared benchmark serves every run.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from unrolled.atomic import atomic_path
from unrolled.data import text

BLANK = "XXXXX"
LOSS_TEXTS = "loss_texts.jsonl"  # LAMBADA's lab protocol: the original release's passages, for its loss
_WORD = re.compile(r"[A-Za-z]{4,}")  # cloze blanks and candidates: words of 4+ letters, fewer function words


def _write(out: Path, task: str, examples: list[dict], name: str = "examples.jsonl") -> dict:
    if not examples:
        raise ValueError(f"{out}: the benchmark has no examples")
    with atomic_path(out / name) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example, ensure_ascii=False) + "\n")
    return {"kind": "zeroshot", "task": task, "examples": len(examples)}


def load_examples(folder: str | Path, name: str = "examples.jsonl") -> list[dict]:
    path = Path(folder) / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; prepare the benchmark first")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _one_file(folder: Path, patterns: list[str]) -> Path:
    files = sorted({f for pattern in patterns for f in folder.glob(pattern)})
    if len(files) != 1:
        raise FileNotFoundError(f"{folder}: expected one file matching {patterns}, found {[f.name for f in files]}")
    return files[0]


def build_lambada(folder: Path, out: Path, patterns: list[str], loss_folder: Path | None = None) -> dict:
    """OpenAI's lambada_test.jsonl (GPT-2's detokenized LAMBADA): one {"text": ...} per line. With
    `loss_folder` (the original release's lambada_test_plain_text.txt), its passages too, one a line, as
    loss_texts.jsonl: the lab's protocol computes LAMBADA's loss on them."""
    path = _one_file(folder, patterns)
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            passage = json.loads(line)["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: expected a JSON object with a \"text\" field ({exc})") from None
        if " " not in passage.strip():
            raise ValueError(f"{path}:{number}: a LAMBADA passage needs context before its last word")
        examples.append({"text": passage.strip()})
    if loss_folder is None:
        return _write(out, "lambada", examples)
    plain = _one_file(loss_folder, ["lambada_test_plain_text.txt"])
    lines = [{"text": line} for line in plain.read_text(encoding="utf-8").splitlines() if line.strip()]
    _write(out, "lambada", lines, LOSS_TEXTS)
    return _write(out, "lambada", examples) | {"loss_texts": len(lines)}


def build_document(folder: Path, out: Path, patterns: list[str], records: str = "lines") -> dict:
    """One test document scored whole (PTB's ptb.test.txt, WikiText's wiki.test.raw), as distributed; `records`
    says how the lab's loader splits it into records (zeroshot.document_records)."""
    path = _one_file(folder, patterns)
    document = path.read_text(encoding="utf-8")
    if not document.strip():
        raise ValueError(f"{path}: empty document")
    return _write(out, "perplexity", [{"text": document}]) | {"characters": len(document), "records": records}


def parse_cbt(path: Path) -> list[dict]:
    """The Children's Book Test format: 20 numbered context lines, then line 21: query, answer, candidates.

    Line 21 is `21 <query with XXXXX>\\t<answer>\\t\\t<c1>|...|<c10>`; a blank line ends each example.
    """
    examples, context = [], []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        index, _, rest = line.partition(" ")
        if not index.isdigit():
            raise ValueError(f"{path}:{number}: expected a numbered line, got {line[:40]!r}")
        if "\t" not in rest:
            context.append(rest.strip())  # as the lab's CBT builder: each context line stripped
            continue
        fields = rest.split("\t")
        if len(fields) != 4 or BLANK not in fields[0]:
            raise ValueError(f"{path}:{number}: expected `query with {BLANK}<TAB>answer<TAB><TAB>c1|...|c10`")
        query, answer, _, candidates = fields
        query = query.strip()
        candidates = [c for c in candidates.split("|") if c]
        if answer not in candidates:
            raise ValueError(f"{path}:{number}: the answer {answer!r} is not among the candidates")
        examples.append({"context": " ".join(context), "query": query, "answer": answer, "candidates": candidates})
        context = []
    if context:
        raise ValueError(f"{path}: ends inside an example ({len(context)} context lines without a query)")
    return examples


def build_cbt(folder: Path, out: Path, patterns: list[str]) -> dict:
    return _write(out, "cloze", parse_cbt(_one_file(folder, patterns)))


def make_cloze(lines: list[str], questions: int, context_lines: int, candidates: int, seed: int) -> list[dict]:
    """A CBT-like cloze set from held-out lines of verse: blank one word (4+ letters) of a line; the
    candidates are the answer and `candidates - 1` other such words of the preceding `context_lines`
    lines (as CBT draws them from its context), in a seeded random order."""
    rng = random.Random(seed)
    positions = list(range(context_lines, len(lines)))
    rng.shuffle(positions)
    examples = []
    for i in positions:
        if len(examples) == questions:
            break
        words = list(_WORD.finditer(lines[i]))
        if len(words) < 2:
            continue
        target = rng.choice(words)
        answer = target.group()
        context = lines[i - context_lines: i]
        pool = sorted({w for line in context for w in _WORD.findall(line) if w.lower() != answer.lower()})
        if len(pool) < candidates - 1:
            continue
        options = rng.sample(pool, candidates - 1) + [answer]
        rng.shuffle(options)
        query = lines[i][: target.start()] + BLANK + lines[i][target.end():]
        examples.append({"context": " ".join(context), "query": query, "answer": answer, "candidates": options})
    if len(examples) < questions:
        raise ValueError(f"only {len(examples)} cloze questions could be made from {len(lines)} lines, "
                         f"{questions} were asked for")
    return examples


def build_text_cloze(folder: Path, out: Path, opts: dict) -> dict:
    """The offline sanity check: a cloze set from the validation part of a text corpus (the same split as
    its LM data sets, so no training text is used)."""
    corpus, files = text.read_corpus(folder, opts.get("files", ["*.txt"]))
    _, held_out = text.split_text(corpus, opts["val_fraction"])
    lines = [line.strip() for line in held_out.splitlines() if line.strip()]
    examples = make_cloze(lines, opts["questions"], opts["context_lines"], opts["candidates"], opts["split_seed"])
    return _write(out, "cloze", examples) | {"documents": files}
