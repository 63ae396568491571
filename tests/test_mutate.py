"""tools/mutate.py's list stays applicable: each mutation's text is in its file exactly once (a refactor that
moves the text would otherwise leave the mutation to report itself, not to test anything), it changes the
text, and the tests it names exist."""

from __future__ import annotations

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import mutate  # noqa: E402


def test_every_mutation_applies_once_and_names_existing_tests():
    stale = {name: file for name, (file, original, mutant, _) in mutate.MUTATIONS.items()
             if (REPO / file).read_text().count(original) != 1 or original == mutant}
    assert stale == {}
    for name, (_, _, _, tests) in mutate.MUTATIONS.items():
        for test in tests:
            path, _, function = test.partition("::")  # a file, or a test in it
            assert (REPO / path).is_file() and (not function or f"def {function.split('[')[0]}(" in (
                REPO / path).read_text()), (name, test)
