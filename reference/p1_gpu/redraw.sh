#!/usr/bin/env bash
# Recompute the summary and redraw the figures of reference/p1_gpu from its per-seed files, with the
# project's own code (run from the repository root with the venv active). The spec is config/paper.yaml's
# p1_shakespeare_char_offline restricted to what was measured: seeds 0-13 of vanilla and A - I.
set -euo pipefail
REF=${REF:-reference/p1_gpu} EXP=p1_shakespeare_char_offline  # REF: redraw a copy elsewhere
SPEC=$(python -c "from unrolled.registry import load_config; import json
s = load_config(['config/paper.yaml'])['experiments']['$EXP']
s.update(seeds=14, arms={a: s['arms'][a] for a in ('vanilla', 'a_minus_i')}, pairs=[])
print(json.dumps(s))")
runs() { python -c "import json, sys; from unrolled.registry import run_files
print(' '.join(run_files('$EXP', json.loads(sys.argv[1]), '$1', '$REF/runs')))" "$SPEC"; }
python -m unrolled summarize --experiment $EXP --spec "$SPEC" --histories $(runs history.csv) \
  --out-json $REF/$EXP/summary.json --out-csv $REF/$EXP/summary.csv --out-curves $REF/$EXP/curves.csv $(runs metrics.json)
python -m unrolled figure --out $REF/figures/p1_gpu_violin.png $REF/$EXP/summary.json \
  --spec "{\"kind\": \"arms\", \"experiment\": \"$EXP\", \"arms\": [\"vanilla\", \"a_minus_i\"], \"claim\": \"p1_char_lm\"}"
python -m unrolled figure --out $REF/figures/p1_gpu_curves.png $(runs history.csv) \
  --spec "{\"kind\": \"curves\", \"experiment\": \"$EXP\", \"arms\": [\"vanilla\", \"a_minus_i\"], \"claim\": \"p1_char_lm\"}"
python -m unrolled figure --out $REF/figures/p1_gpu_across_training.png $REF/$EXP/summary.json \
  --spec "{\"kind\": \"across\", \"experiment\": \"$EXP\", \"claims\": {\"p1_char_lm\": {\"vanilla\": \"vanilla\", \"a_minus_i\": \"a_minus_i\"}}}"
