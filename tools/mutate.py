"""Mutation check: apply each listed one-line mutation, run the tests that guard that behaviour, and count
how many mutations a test caught (a failing run). The tree is restored after each mutation.

    .venv/bin/python tools/mutate.py [NAME ...]

Not part of `make test` (it runs the guarded tests once per mutation); run it before a change lands.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name: (file, the exact text, its mutation, the tests to run)
MUTATIONS = {
    "packing >= for >": (
        "src/unrolled/slices.py",
        "        if current and sum(j[\"minutes\"] for j in current) + minutes > limit:",
        "        if current and sum(j[\"minutes\"] for j in current) + minutes >= limit:",
        ["tests/test_gpu_slice.py::test_stages_pair_the_arms_of_a_comparison_in_one_slice"],
    ),
    "stage split never": (
        "src/unrolled/slices.py",
        "        if minutes > limit:\n",
        "        if False:\n",
        ["tests/test_gpu_slice.py::test_stages_pair_the_arms_of_a_comparison_in_one_slice"],
    ),
    "measured MFU ignored": (
        "src/unrolled/slices.py",
        "    mfu = got.get(\"mfu\", settings[\"mfu\"])",
        "    mfu = settings[\"mfu\"]",
        ["tests/test_gpu_slice.py::test_job_minutes_come_from_measured_jobs_where_there_are_some"],
    ),
    "unpaired arms published": (
        "src/unrolled/here.py",
        "if arm != spec[\"baseline\"] and base & set(done)}",
        "if arm != spec[\"baseline\"] and set(done)}",
        ["tests/test_gpu_slice.py::test_a_partial_summary_shows_every_arm_that_pairs_with_the_baseline"],
    ),
    "pooling never refused": (
        "src/unrolled/summaries.py",
        "            if keys:\n",
        "            if False:\n",
        ["tests/test_gpu_slice.py::test_pooling_refuses_seeds_of_one_arm_trained_with_different_configs"],
    ),
    "grid edge one-sided": (
        "src/unrolled/config.py",
        "values[best] in (grid[0], grid[-1])",
        "values[best] == grid[0]",
        ["tests/test_gpu_slice.py::test_the_tuned_choice_is_the_best_of_its_own_arms_and_flags_the_grid_edge"],
    ),
    "wheel markers ignored": (
        "tools/gpu_wheels.py",
        "            if _wanted(req, python) and _name(req)",
        "            if _name(req)",
        ["tests/test_gpu_slice.py::test_the_wheel_closure_check_names_what_neither_the_wheels_nor_the_node_have"],
    ),
    "official val from train": (
        "src/unrolled/data/images.py",
        "        splits = {\"train\": train, \"val\": test}",
        "        splits = {\"train\": train, \"val\": (train[0][:len(test[1])], train[1][:len(test[1])])}",
        ["tests/test_images.py"],
    ),
    "no pack after a job": (
        "tools/gpu-slice.sh",
        "  child=\n  pack\n",
        "  child=\n",
        ["tests/test_gpu_slice.py::test_a_killed_slice_still_returns_every_seed_that_finished"],
    ),
    "deadline ignored": (
        "tools/gpu-slice.sh",
        "  if ((stage_need > left)); then",
        "  if ((stage_need > left + 100000)); then",
        ["tests/test_gpu_slice.py::test_make_rehearse_gpu_publishes_paired_seeds_from_a_stand_in_node"],
    ),
    "compile never applied": (
        "src/unrolled/train.py",
        "self.forward = torch.compile(self.wrapped, mode=tcfg.compile_mode) if tcfg.compile else self.wrapped",
        "self.forward = self.wrapped",
        ["tests/test_train.py::test_compiled_training_matches_eager"],
    ),
    "timer in seconds": (
        "src/unrolled/train.py",
        "last_save >= 60 * tcfg.checkpoint_minutes",
        "last_save >= tcfg.checkpoint_minutes",
        ["tests/test_train.py::test_checkpoint_minutes_timer"],
    ),
    "fused XSA never used": (
        "src/unrolled/models/transformer.py",
        "fused = v.is_cuda if self.fused_xsa is None else self.fused_xsa",
        "fused = False",
        ["tests/test_xsa.py"],
    ),
    "check ignores the sign": (
        "src/unrolled/check.py",
        "        r[\"ok\"] = r[\"within\"] and not r[\"sign_lost\"]",
        "        r[\"ok\"] = r[\"within\"]",
        ["tests/test_check.py"],
    ),
    "check bound widened": (
        "src/unrolled/check.py",
        "        bound = sps.t.ppf(1 - level / 2, r[\"df\"]) * r[\"se\"]",
        "        bound = 20 * sps.t.ppf(1 - level / 2, r[\"df\"]) * r[\"se\"]",
        ["tests/test_check.py"],
    ),
    "check passes on within alone": (
        "src/unrolled/check.py",
        "\"within\": p_adj >= ALPHA}",
        "\"within\": True}",
        ["tests/test_check.py"],
    ),
    "check skips missing": (
        "src/unrolled/check.py",
        "            r[\"ok\"] = False\n",
        "            r[\"ok\"] = True\n",
        ["tests/test_check.py"],
    ),
    "wikitext newline dropped": (
        "src/unrolled/zeroshot.py",
        "return [row if row.strip() else \"\" for row in document.splitlines(keepends=True)]",
        "return [row if row.strip() else \"\" for row in document.splitlines()]",
        ["tests/test_zeroshot.py"],
    ),
    "single quotes straightened": (
        "src/unrolled/zeroshot.py",
        "\"\\u201d\": '\"'})",
        "\"\\u201d\": '\"', \"\\u2018\": \"'\"})",
        ["tests/test_zeroshot.py"],
    ),
    "cbt context not stripped": (
        "src/unrolled/data/benchmarks.py",
        "context.append(rest.strip())",
        "context.append(rest)",
        ["tests/test_benchmarks.py"],
    ),
    "wilcoxon ties ignored": (
        "src/unrolled/stats.py",
        "        if tied and len(nonzero) <= SIGN_FLIP_MAX:",
        "        if False:",
        ["tests/test_stats.py"],
    ),
    "gpt-2 difference not drawn": (
        "src/unrolled/paper.py",
        "value = difference(claim, mapping, arm, reference, baseline)",
        "value = difference(claim, mapping, arm, reference, None)",
        ["tests/test_table.py"],
    ),
    "data not ancient": (
        "src/unrolled/rules.py",
        "        return ancient(layout.prepared_dir(self.experiment(wildcards.experiment)[\"dataset\"]))",
        "        return layout.prepared_dir(self.experiment(wildcards.experiment)[\"dataset\"])",
        ["tests/test_gpu_slice.py::test_make_rehearse_gpu_publishes_paired_seeds_from_a_stand_in_node"],
    ),
    "numpy at parse time": (
        "src/unrolled/data/prepare.py",
        "from unrolled.atomic import atomic_dir, write_json\n",
        "from unrolled.atomic import atomic_dir, write_json\nimport numpy\n",
        ["tests/test_config.py::test_the_workflow_lints_and_plans_with_snakemake_alone"],
    ),
    "catalogues not read": (
        "workflow/Snakefile",
        "load_catalogues(config)\n",
        "pass\n",
        ["tests/test_config.py::test_the_workflow_deploys_as_a_module_with_the_users_config"],
    ),
    "ensemble record not written": (
        "src/unrolled/train.py",
        "            write_json(self.ckpt_path.parent / METRICS, {\"seeds\": self.seeds})\n",
        "",
        ["tests/test_ensemble.py::test_members_match_single_runs_for_20_steps"],
    ),
    "a job trains its first seed only": (
        "src/unrolled/rules.py",
        "                return group\n",
        "                return group[:1]\n",
        ["tests/test_registry.py::test_a_runs_files_are_made_by_its_training_jobs_record_which_names_the_jobs_seeds"],
    ),
    "run template apart from the member folder": (
        "src/unrolled/layout.py",
        "RUN = f\"{ARM}/{MEMBER}\"",
        "RUN = f\"{ARM}/run{{seed}}\"",
        ["tests/test_registry.py::test_the_run_layout_is_one_function_and_its_inverse"],
    ),
    "an ensemble's runs stand for themselves": (
        "src/unrolled/rules.py",
        "                f = self.job_record(experiment, arm, layout.job_name(group))\n",
        "",
        ["tests/test_registry.py::test_a_runs_files_are_made_by_its_training_jobs_record_which_names_the_jobs_seeds"],
    ),
    "headline is everything": (
        "src/unrolled/summaries.py",
        "            for c in s[\"metrics\"][s[\"primary\"]][\"comparisons\"]:",
        "            for c in (c for b in s[\"metrics\"].values() for c in b[\"comparisons\"]):",
        ["tests/test_dvc.py::test_the_metrics_step_writes_what_was_published"],
    ),
    "plots page from the CDN": (
        "tools/dvc_plots_page.py",
        "{{plot_divs}}",
        "{{scripts}}{{plot_divs}}",
        ["tests/test_dvc.py"],
    ),
    "truncated checkpoint raw": (
        "src/unrolled/checkpoint.py",
        "    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as exc:",
        "    except () as exc:",
        ["tests/test_train.py::test_an_unreadable_checkpoint_is_one_line_naming_it_and_the_way_out"],
    ),
    "config fields unchecked": (
        "src/unrolled/schema.py",
        "        if wrong:\n            raise ValueError(f\"{name}.{f.name}: {wrong}\")",
        "        if False:\n            raise ValueError(f\"{name}.{f.name}: {wrong}\")",
        ["tests/test_train.py::test_cli_checks_its_config_as_the_schema_does_in_one_line"],
    ),
    "schema bounds not generated": (
        "src/unrolled/schema.py",
        "    schema |= {key: metadata[key] for key in BOUNDS if key in metadata}\n",
        "",
        ["tests/test_registry.py::test_the_schemas_model_and_train_sections_are_generated_from_the_dataclasses"],
    ),
    "finished run config finished again": (
        "src/unrolled/config.py",
        "        if not is_finished(run):\n",
        "        if True:\n",
        ["tests/test_train.py::test_the_run_config_is_finished_once_and_trained_as_it_is"],
    ),
    "train reads no run config": (
        "src/unrolled/rules.py",
        "                                       \"config\": self.run_config_file(wildcards)})",
        "                                       })",
        ["tests/test_workflow.py::test_smoke_runs_every_stage"],
    ),
    "figure pair not atomic": (
        "src/unrolled/figures.py",
        "            fig.savefig(png, format=\"png\", dpi=150)",
        "            fig.savefig(out.with_suffix(\".png\"), format=\"png\", dpi=150)",
        ["tests/test_figures.py::test_a_failed_write_leaves_the_previous_figure_intact"],
    ),
    "best-step labels overlap": (
        "src/unrolled/figures.py",
        "xytext=(-3 if right else 3, -3 - 20 * level)",
        "xytext=(-3 if right else 3, -3)",
        ["tests/test_figures.py::test_best_step_labels_are_one_per_step_and_never_overlap"],
    ),
    "wheels unpinned": (
        "tools/gpu_wheels.py",
        "    if lock_file(python).exists():",
        "    if False:",
        ["tests/test_gpu_slice.py::test_a_wheel_whose_hash_changed_stops_the_fetch"],
    ),
    "configfile eats names": (
        "src/unrolled/cli.py",
        "    _names_after_configfiles(args)\n",
        "",
        ["tests/test_status.py::test_the_cli_takes_several_configfiles_as_snakemake_does"],
    ),
    "data targets kept": (
        "src/unrolled/here.py",
        "        config[\"data_targets\"] = [ds for ds in targets if not missing.get(ds)]",
        "        pass",
        ["tests/test_readme.py::test_the_paper_dry_run_works_as_written_and_names_what_it_leaves_out"],
    ),
    "group of one in its own folder": (
        "src/unrolled/layout.py",
        "return MEMBER.format(seed=seeds[0]) if len(seeds) == 1 else",
        "return",
        ["tests/test_train.py::test_a_group_of_one_keeps_a_single_runs_checkpoint_so_existing_runs_resume"],
    ),
    "tuned choice dropped": (
        "src/unrolled/config.py",
        "    if choice is not None:\n        run = {",
        "    if False:\n        run = {",
        ["tests/test_train.py::test_the_run_config_is_finished_once_and_trained_as_it_is"],
    ),
    "trainer imports the config": (
        "src/unrolled/train.py",
        "from unrolled import checkpoint, distributed\n",
        "from unrolled import checkpoint, distributed, registry\n",
        [
            "tests/test_registry.py::test_the_layout_imports_nothing_of_the_config_and_is_all_the_trainer_and_data_c"
            "ode_import",
        ],
    ),
    "arm set over own arms": (
        "src/unrolled/registry.py",
        "            spec.setdefault(\"arms\", copy.deepcopy(arm_set[\"arms\"]))",
        "            spec[\"arms\"] = copy.deepcopy(arm_set[\"arms\"])",
        ["tests/test_registry.py::test_an_arm_set_gives_its_arms_and_pairs_where_the_experiment_sets_none"],
    ),
    "train_resources ignored": (
        "src/unrolled/registry.py",
        "**config.get(\"train_resources\", {}), ",
        "",
        ["tests/test_registry.py::test_show_run_prints_the_run_config_or_what_it_waits_for"],
    ),
    "recipe restates a default": (
        "config/recipes.yaml",
        "    model: {dropout: 0.2}\n",
        "    model: {dropout: 0.2, n_layer: 6}\n",
        ["tests/test_registry.py::test_no_config_restates_a_value_it_does_not_change"],
    ),
    "an enum the schema lacks": (
        "src/unrolled/config.py",
        "    decay: Literal[\"matrices\", \"all\"] = setting(",
        "    decay: Literal[\"matrices\", \"all\", \"none\"] = setting(",
        ["tests/test_registry.py::test_the_schemas_model_and_train_sections_are_generated_from_the_dataclasses"],
    ),
    "seed-group rule unchecked": (
        "src/unrolled/config.py",
        "    if loss_chunk and size > 1:",
        "    if False:",
        ["tests/test_registry.py::test_cross_checks_name_the_key"],
    ),
    "flat norms summed, not squared": (
        "src/unrolled/models/flat.py",
        "        norms = norms.norm(dim=0)\n",
        "        norms = norms.sum(dim=0)\n",
        ["tests/test_flat.py::test_flat_clipping_is_per_member"],
    ),
    "flat gradients never zeroed": (
        "src/unrolled/models/flat.py",
        "            g.zero_()",
        "            g.mul_(1)",
        ["tests/test_flat.py"],
    ),
    "flat parameters not views": (
        "src/unrolled/models/flat.py",
        "p.data = data[:, rows].view(p.shape)",
        "p.data = data[:, rows].view(p.shape).clone()",
        ["tests/test_flat.py"],
    ),
    "update never clears gradients": (
        "src/unrolled/train.py",
        "            optimizer.zero_grad(set_to_none=True)",
        "            pass",
        ["tests/test_flat.py"],
    ),
    "fusion counts not compared": (
        "benchmarks/fusion.py",
        "out[f\"extra_{phase}\"] = len(mine) - len(theirs)",
        "out[f\"extra_{phase}\"] = len(mine)",
        ["tests/test_benchmark_tools.py::test_the_fusion_audit_finds_a_minus_i_and_xsa_at_their_floor_on_the_cpu"],
    ),
    "fusion written at the end only": (
        "benchmarks/fusion.py",
        "        if args.out:  # after every variant",
        "        if args.out and name == names[-1]:  # after every variant",
        ["tests/test_benchmark_tools.py::test_the_fusion_audit_keeps_each_variant_as_it_finishes"],
    ),
    "regime window exclusive": (
        "src/unrolled/regime.py",
        "ok_where, ok_fell = low <= where <= high, fell >= need",
        "ok_where, ok_fell = low < where < high, fell >= need",
        ["tests/test_regime.py::test_the_window_is_inclusive_at_its_ends"],
    ),
    "regime drop ignored": (
        "src/unrolled/regime.py",
        "ok_where, ok_fell = low <= where <= high, fell >= need",
        "ok_where, ok_fell = low <= where <= high, True",
        ["tests/test_regime.py::test_over_fitting_too_early_or_too_little_is_out_of_regime"],
    ),
    "regime judged by the mean seed": (
        "src/unrolled/regime.py",
        "fraction = float(median([m[\"best_step\"] / m[\"steps\"] for m in base]))",
        "fraction = float(sum(m[\"best_step\"] / m[\"steps\"] for m in base) / len(base))",
        ["tests/test_regime.py::test_the_baseline_decides_over_fitting_by_its_median_seed"],
    ),
    "accuracy drop sign flipped": (
        "src/unrolled/regime.py",
        "\"val_acc\": (\"best_val_acc\", \"final_val_acc\", -1.0)}",
        "\"val_acc\": (\"best_val_acc\", \"final_val_acc\", 1.0)}",
        ["tests/test_regime.py::test_an_accuracy_curve"],
    ),
    "under-fitting checks the baseline only": (
        "src/unrolled/regime.py",
        "over = {arm: d for arm, d in found[\"median_drop\"].items() if d > limit}",
        "over = {a: d for a, d in found[\"median_drop\"].items() if d > limit and a == baseline}",
        ["tests/test_regime.py::test_under_fitting_means_no_arm_past_its_best"],
    ),
    "out of regime still judged": (
        "src/unrolled/table.py",
        "            if out_of_regime(summary):  # a difference",
        "            if False:  # a difference",
        ["tests/test_regime.py::test_out_of_regime_the_table_gives_the_reason_instead_of_a_difference"],
    ),
    "matched sizes never refused": (
        "src/unrolled/summaries.py",
        "    if spec.get(\"size_matched\") and sizes[large] > sizes[small] * (1 + MATCHED_TOLERANCE):",
        "    if spec.get(\"size_matched\") and sizes[large] > sizes[small] * (1 + 10 * MATCHED_TOLERANCE):",
        ["tests/test_regime.py::test_the_summary_carries_each_arms_size_and_refuses_unmatched_arms"],
    ),
    "map sign flip missed": (
        "src/unrolled/regime.py",
        "(a[\"mean\"] < 0) != (b[\"mean\"] < 0)]",
        "(a[\"mean\"] < 0) and (b[\"mean\"] < 0)]",
        ["tests/test_regime.py::test_the_map_orders_sizes_largest_first_finds_the_sign_flip_and_places_the_reference"],
    ),
    "map ordered by epochs": (
        "src/unrolled/regime.py",
        "key=lambda p: -p[\"train_items\"])",
        "key=lambda p: p[\"epochs_at_baseline_best\"])",
        ["tests/test_regime.py::test_the_map_orders_sizes_largest_first_finds_the_sign_flip_and_places_the_reference"],
    ),
    "reference through the source cache": (
        "workflow/rules/common.smk",
        "    if os.path.isfile(local):",
        "    if False:",
        ["tests/test_dvc.py::test_a_regime_map_made_again_is_not_planned_again"],
    ),
    "char slice cuts the vocabulary": (
        "src/unrolled/data/text.py",
        "    tokenizer = CharTokenizer(text)\n    train, val",
        "    tokenizer = CharTokenizer(text[:train_chars])\n    train, val",
        [
            "tests/test_regime.py::test_a_char_slice_trains_on_its_first_characters_and_keeps_the_whole_vocab"
            "ulary_and_validation",
        ],
    ),
    "image subset unbalanced": (
        "src/unrolled/data/images.py",
        "order[y[order] == c][:per_class]",
        "order[:per_class]",
        ["tests/test_regime.py::test_an_image_subset_is_balanced_seeded_and_leaves_validation_alone"],
    ),
    "verdict at five seeds": (
        "src/unrolled/slices.py",
        "                if paired >= VERDICT_MIN_N and (name, arm, other) not in published:",
        "                if paired >= VERDICT_MIN_N - 1 and (name, arm, other) not in published:",
        ["tests/test_gpu_slice.py::test_a_slice_publishes_the_comparisons_that_reach_six_paired_seeds_with_it"],
    ),
    "ICL evaluations one at a time": (
        "src/unrolled/slices.py",
        "    icl = -(-size // at_once) if \"icl\" in kinds else 0",
        "    icl = size if \"icl\" in kinds else 0",
        ["tests/test_gpu_slice.py::test_cpu_evaluations_run_side_by_side_and_zero_shot_ones_one_at_a_time"],
    ),
    "packaged sources need no carrying": (
        "src/unrolled/here.py",
        "    if Path(raw_dir(src), PROVENANCE).exists():\n        return raw_dir(src)",
        "    if Path(raw_dir(src), PROVENANCE).exists() or spec[\"kind\"] == \"pypi\":\n        return raw_dir(src)",
        ["tests/test_gpu_slice.py::test_a_slice_needs_the_sources_of_its_data_carried_by_name"],
    ),
    "stage fit by its first job": (
        "tools/gpu-slice.sh",
        "  if ((stage_need > left)); then",
        "  if ((need > left)); then",
        ["tests/test_gpu_slice.py::test_make_rehearse_gpu_publishes_paired_seeds_from_a_stand_in_node"],
    ),
    "SLICE_NEEDS not read": (
        "tools/gpu-slice.sh",
        "if [ -f SLICE_NEEDS ]; then",
        "if false; then",
        ["tests/test_gpu_slice.py::test_make_rehearse_gpu_publishes_paired_seeds_from_a_stand_in_node"],
    ),
    "wheel tags unchecked": (
        "tools/gpu_wheels.py",
        "    if not set(parse_wheel_filename(wheel.name)[3]) & tags:",
        "    if False:",
        ["tests/test_gpu_slice.py::test_the_wheel_check_names_a_wheel_the_nodes_python_would_refuse"],
    ),
    "ICL read-in at GPT-2's init": (
        "src/unrolled/models/transformer.py",
        "            self.read_in.reset_parameters()",
        "            pass",
        ["tests/test_model.py::test_gpt2_torch_io_init_is_garg_et_als_read_in_and_read_out"],
    ),
    "ICL plateau never marked": (
        "src/unrolled/icl.py",
        "        a[\"on_plateau\"] = a[\"prompt_error\"] >= (1 - PLATEAU) * zero",
        "        a[\"on_plateau\"] = a[\"prompt_error\"] >= zero",
        ["tests/test_icl.py::test_an_arm_whose_error_is_within_5_percent_of_predicting_zero_is_marked_on_its_plateau"],
    ),
    "resources written twice": (
        "config/paper.yaml",
        "    resources: *icl_resources\n",
        "    resources: {runtime: 1440}\n",
        ["tests/test_registry.py::test_no_config_restates_a_value_it_does_not_change"],
    ),
    "config imports a model": (
        "src/unrolled/config.py",
        "def trained_model_config(metrics: dict) -> ModelConfig:\n",
        "def trained_model_config(metrics: dict) -> ModelConfig:\n    from unrolled.models import xsa  # noqa: F401\n",
        ["tests/test_registry.py::test_the_config_imports_nothing_of_the_models_so_no_import_cycle"],
    ),
    "1.0 an integer": (
        "src/unrolled/schema.py",
        '    checker = cls.TYPE_CHECKER.redefine("integer", lambda _, value: _IS["integer"](value))\n',
        "    checker = cls.TYPE_CHECKER\n",
        ["tests/test_config.py::test_bad_nested_entries"],
    ),
    "slurm profile without retries": (
        "workflow/profiles/slurm/config.yaml",
        "\nretries: 4\n",
        "\nretries: 0\n",
        ["tests/test_slurm.py::test_a_cancelled_job_is_retried_and_resumes_from_its_checkpoint"],
    ),
    "run config a cluster job": (
        "workflow/rules/train.smk",
        "    localrule: True\n    conda:\n        \"../envs/unrolled.yml\"\n"
        "    params:\n        config=lookups.run_config,\n",
        "    conda:\n        \"../envs/unrolled.yml\"\n    params:\n        config=lookups.run_config,\n",
        ["tests/test_slurm.py::test_smoke_workflow_through_slurm_matches_local"],
    ),
    "grid draws the primary metric": (
        "src/unrolled/figures.py",
        '    summary = read_json(inputs[0])\n    key = spec.get("metric", summary["primary"])\n'
        '    block = summary["metrics"][key]\n    rows,',
        '    summary = read_json(inputs[0])\n    key = summary["primary"]\n    block = summary["metrics"][key]\n'
        '    rows,',
        ["tests/test_figures.py::test_the_grid_draws_the_metric_the_claim_is_judged_on"],
    ),
    "figure metric not from the claim": (
        "src/unrolled/registry.py",
        "            spec[\"metric\"] = claim\n",
        "            pass\n",
        ["tests/test_figures.py::test_the_grid_draws_the_metric_the_claim_is_judged_on"],
    ),
    "slurm DDP job not cancelled": (
        "tests/test_slurm.py",
        '    subprocess.run(["scancel", jobs[0]], env=senv, check=True)\n',
        "",
        ["tests/test_slurm.py::test_a_cancelled_job_is_retried_and_resumes_from_its_checkpoint"],
    ),
}


def main(names: list[str]) -> int:
    chosen = {n: m for n, m in MUTATIONS.items() if not names or n in names}
    caught = 0
    for name, (file, original, mutant, tests) in chosen.items():
        path = REPO / file
        text = path.read_text()
        if text.count(original) != 1:
            print(f"{name}: the text to mutate is not in {file} exactly once: fix the list")
            return 2
        path.write_text(text.replace(original, mutant))
        try:
            proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                                  cwd=REPO, capture_output=True, text=True)
        finally:
            path.write_text(text)
        hit = proc.returncode != 0
        caught += hit
        print(f"{'caught' if hit else 'MISSED'}: {name} ({file})", flush=True)
    print(f"{caught} of {len(chosen)} mutations caught")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
