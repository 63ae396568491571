"""The benchmark tools a GPU session runs (benchmarks/): they must work before the GPU time is spent, so they
run here on the CPU at small sizes, and their pure parts are checked against known inputs."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))


# Kernel names as recorded by torch.profiler on an H200 (cuBLAS, flash, cuDNN, ATen and Inductor's Triton).
@pytest.mark.parametrize("name, kind", [
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64", "matmul"),
    ("ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_stages_64x3_tn", "matmul"),
    ("nvjet_tst_128x256_64x4_1x2_h_bz_coopA_NTN", "matmul"),
    ("aten::mm", "matmul"),
    ("triton_tem_fused_mm_4", "matmul"),
    ("pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 64, 4>>", "attention"),
    ("fmha_cutlassB_bf16_aligned_64x64_k64_sm80", "attention"),
    ("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_3_64x64x64_4x1x1_kernel0_0", "attention"),
    ("aten::_scaled_dot_product_flash_attention_for_cpu", "attention"),
    ("void at::native::(anonymous namespace)::fused_adam_kernel", "optimizer"),
    ("aten::_foreach_add_", "optimizer"),
    ("Memcpy HtoD (Pinned -> Device)", "copies"),
    ("Memcpy DtoD (Device -> Device)", "copies"),
    ("void at::native::(anonymous namespace)::CatArrayBatchedCopy<float, unsigned int, 3, 128, 1>", "copies"),
    ("void at::native::elementwise_kernel<128, 4, at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)>",
     "copies"),
    ("aten::copy_", "copies"),
    ("triton_poi_fused_cat_0", "copies"),  # the qkv gradients, concatenated
    ("triton_poi_fused_clone_3", "copies"),
    ("triton_poi_fused_permute_view_2", "copies"),
    ("triton_per_fused_native_layer_norm_0", "norm"),
    ("triton_per_fused__to_copy_add_native_layer_norm_0", "norm"),  # a cast inside: not a copy
    ("triton_red_fused__to_copy_add_native_layer_norm_native_layer_norm_backward_9", "norm"),
    ("aten::native_layer_norm", "norm"),
    ("triton_poi_fused__to_copy_3", "elementwise"),  # an autocast cast
    ("triton_poi_fused_native_dropout_gelu_5", "elementwise"),
    ("triton_per_fused__log_softmax_nll_loss_7", "elementwise"),
    ("triton_poi_fused__unsafe_index_add_3", "elementwise"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl>", "elementwise"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>>", "elementwise"),
    ("aten::_to_copy", "elementwise"),
    ("aten::index", "elementwise"),
])
def test_kernels_are_grouped_by_kind(name, kind):
    from kernel_profile import kind_of

    assert kind_of(name) == kind


def test_the_profile_runs_on_the_cpu(tmp_path):
    from kernel_profile import main

    main(["--preset", "cpu", "--ensemble", "2", "--steps", "1", "--warmup", "1", "--out", str(tmp_path / "p.json")])
    result = json.loads((tmp_path / "p.json").read_text())["char LM ensemble E=2"]
    assert sum(result["share"].values()) == pytest.approx(1.0) and result["ms_per_step"]["matmul"] > 0
    assert "idle" not in result["ms_per_step"]  # on the CPU the host is the device
    assert result["ms_per_step"]["optimizer"] > 0  # AdamW's plain aten ops, found inside Optimizer.step
    top = result["top_kernels"]  # the longest kernels by name, each with its kind and time: auditable
    times = [k["ms_per_step"] for k in top]
    assert 0 < len(top) <= 40 and times == sorted(times, reverse=True)
    assert sum(k["ms_per_step"] for k in top if k["kind"] == "matmul") <= result["ms_per_step"]["matmul"] + 1e-9
    assert any(k["kind"] == "matmul" for k in top)


def test_step_time_times_the_candidates_in_seed_ensembles_as_the_trainer_runs_them(tmp_path, capsys):
    from step_time import main

    main(["--preset", "tiny", "--ensemble", "2", "--rounds", "21", "--steps", "1",
          "--variants", "compiled_step", "xsa_composite", "--out", str(tmp_path / "t.json")])
    result = json.loads((tmp_path / "t.json").read_text())
    rows = {r["variant"]: r for r in result["rows"]}
    assert set(rows) == {"baseline", "compiled_step", "xsa_composite"} and "E=2" in result["setup"]
    assert rows["compiled_step"]["params_M"] == rows["baseline"]["params_M"] < 1.0  # one member's, not E's
    assert rows["xsa_composite"]["mem_MB"] > rows["baseline"]["mem_MB"]  # XSA keeps more for backward
    with pytest.raises(SystemExit):  # the chunked loss is for single runs
        main(["--preset", "cpu", "--ensemble", "2", "--variants", "chunked_ce"])
    capsys.readouterr()
    with pytest.raises(SystemExit):  # GPT-2 times a single model's step
        main(["--preset", "gpt2", "--ensemble", "2", "--variants", "baseline"])
    assert "--ensemble: presets tiny, cpu, paper" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a char LM is accepted with it (then refused for chunked_ce alone)
        main(["--preset", "paper", "--ensemble", "2", "--variants", "chunked_ce"])
    assert "single runs only" in capsys.readouterr().err


def test_the_cudnn_probe_records_what_ran_and_what_failed(tmp_path):
    """benchmarks/cudnn_vmap.py on the CPU: the math backend runs a compiled-ensemble-shaped step and is timed;
    cuDNN, which the CPU lacks, is recorded as failed with its error, not raised; Attention is restored."""
    from cudnn_vmap import main

    from unrolled.models.transformer import Attention

    heads = Attention.heads
    result = main(["--preset", "cpu", "--members", "2", "--steps", "2", "--cases", "math", "cudnn_contiguous",
                   "--out", str(tmp_path / "c.json")])
    assert result["math"]["ran"] and result["math"]["step_ms"] > 0
    assert not result["cudnn_contiguous"]["ran"] and "RuntimeError" in result["cudnn_contiguous"]["error"]
    assert json.loads((tmp_path / "c.json").read_text()) == result and Attention.heads is heads


def test_the_equivalence_check_passes_on_the_cpu(tmp_path):
    from equivalence import main

    assert main(["--preset", "cpu", "--members", "2", "--steps", "3", "--out", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["ok"] and result["worst"] < 1e-4 and set(result["max_abs_loss_difference"]) == {"0", "1"}


def test_step_time_puts_a_given_nanogpt_beside_ours(tmp_path):
    """A model.py with nanoGPT's interface (GPT, GPTConfig, configure_optimizers), given by path, is timed
    in the same interleaved rounds, and its MFU counted as our baseline's architecture."""
    from step_time import main

    (tmp_path / "model.py").write_text('''
from dataclasses import dataclass
import torch
from unrolled.models import ModelConfig, Transformer

@dataclass
class GPTConfig:
    block_size: int; vocab_size: int; n_layer: int; n_head: int; n_embd: int; dropout: float; bias: bool

class GPT(Transformer):
    def __init__(self, c):
        super().__init__(ModelConfig(block_size=c.block_size, vocab_size=c.vocab_size, n_layer=c.n_layer,
                                     n_head=c.n_head, n_embd=c.n_embd, dropout=c.dropout, bias=c.bias))

    def configure_optimizers(self, weight_decay, lr, betas, device_type):
        return torch.optim.AdamW(self.parameters(), lr=lr, betas=betas)
''')
    main(["--rounds", "21", "--steps", "1", "--variants", "baseline", "chunked_ce", "--nanogpt",
          str(tmp_path / "model.py"), "--out", str(tmp_path / "t.json")])
    rows = {r["variant"]: r for r in json.loads((tmp_path / "t.json").read_text())["rows"]}
    assert set(rows) == {"baseline", "chunked_ce", "nanogpt"}
    assert rows["nanogpt"]["params_M"] == rows["baseline"]["params_M"] == rows["chunked_ce"]["params_M"]
    assert rows["chunked_ce"]["mem_MB"] < rows["baseline"]["mem_MB"]  # no (N, V) logits kept for backward
    assert len(json.loads((tmp_path / "t.json").read_text())["raw_seconds"]["nanogpt"]) == 21
    with pytest.raises(SystemExit):
        main(["--rounds", "5", "--variants", "baseline"])  # fewer than 21 rounds cannot resolve 2%


CHECK_FILES = {1: ["fusion_gpu", "profile_gpu", "ensemble_gpu_large"], 2: ["step_time_gpt2"],
               3: ["step_time_gpt2_candidates", "step_time_ensemble_gpu"], 4: ["equivalence_gpu", "cudnn_vmap_gpu"],
               "cuda": []}
# goals: tests/test_gpu_slice.py runs it on the stand-in node, after the slice, as an allocation would


@pytest.mark.parametrize("check", sorted(CHECK_FILES, key=str))
def test_the_gpu_check_script_runs_its_steps_and_keeps_their_results(tmp_path, check):
    """benchmarks/gpu_checks.sh at CPU sizes (SMOKE=1): every step's JSON and log under OUT/benchmarks/results/,
    the script's exit status 0 (a step's failure makes it 1); an unknown check is refused."""
    import os
    import subprocess

    env = {**os.environ, "SMOKE": "1"}
    done = subprocess.run(["bash", "benchmarks/gpu_checks.sh", str(check), str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:]
    results = tmp_path / "benchmarks" / "results"
    for name in CHECK_FILES[check]:
        assert json.loads((results / f"{name}.json").read_text()) and (results / f"{name}.log").stat().st_size
    if check == "cuda":
        assert "skipped" in (results / "test_cuda.log").read_text()  # no CUDA here: it says so
    if check == 4:
        assert json.loads((results / "equivalence_gpu.json").read_text())["ok"]
        assert json.loads((results / "cudnn_vmap_gpu.json").read_text())["math"]["ran"]
        bad = subprocess.run(["bash", "benchmarks/gpu_checks.sh", "9", str(tmp_path)], cwd=REPO,
                             capture_output=True, text=True)
        assert bad.returncode == 2 and "CHECK is 1, 2, 3, 4, cuda or goals" in bad.stderr


def test_the_fusion_audit_finds_a_minus_i_and_xsa_at_their_floor_on_the_cpu(tmp_path):
    """benchmarks/fusion.py on the CPU's Inductor (C++ kernels): A - I adds one forward kernel, the subtraction
    fused with the heads' merge, and no backward kernel (its -g goes into the copy that assembles the q, k, v
    gradients), and saves one B x T x C activation more; XSA's forward is one kernel with its row sums, and
    its backward adds none here (its gradient through the projection joins the layout copy the CPU's
    attention backward needs anyway), saving its output and two scalars a row more."""
    from common import PRESETS
    from fusion import main

    main(["--variants", "a_minus_i", "xsa", "--out", str(tmp_path / "f.json")])
    rows = {r["variant"]: r for r in json.loads((tmp_path / "f.json").read_text())["rows"]}
    a, x = rows["a_minus_i"], rows["xsa"]
    cpu = PRESETS["cpu"]["model"]
    B, T, C, H = 4, cpu["block_size"], cpu["n_embd"], cpu["n_head"]  # fusion.py's batch, the cpu preset's sizes
    assert a["extra_forward"] == 1 and [k for k in a["new_forward"] if "_sub_" in k] == a["new_forward"]
    assert a["extra_backward"] == 0 and any("_cat_" in k and "_neg_" in k for k in a["new_backward"])
    assert a["extra_saved"] == 1
    base_mb = rows["baseline"]["saved_mb"]
    assert a["saved_mb"] - base_mb == pytest.approx(B * T * C * 4 / 2**20)
    assert x["extra_forward"] == 1 and all("_sum_" in k and "_sub_" in k for k in x["new_forward"])
    assert x["extra_backward"] == 0 and x["extra_saved"] == 3
    assert x["saved_mb"] - base_mb == pytest.approx((B * T * C + 2 * B * H * T) * 4 / 2**20)
    # the library calls are the baseline's: no variant adds a matmul or an attention call
    for row in (a, x):
        assert row["forward"]["library"] == rows["baseline"]["forward"]["library"]
        assert row["backward"]["library"] == rows["baseline"]["backward"]["library"]


def test_each_variants_memory_is_its_own_not_the_earlier_variants_too():
    """A fake allocator: each variant leaves its parameters and optimizer state resident (the timing rounds
    keep every variant alive) and needs activations on top at its peak. The measured peak of each is its
    own resident state plus activations, whatever was built before it; the allocator's plain peak is not."""
    from step_time import own_peak_mb

    class Fake:
        live = peak_since = 0

        @classmethod
        def allocated(cls):
            return cls.live

        @classmethod
        def reset_peak(cls):
            cls.peak_since = cls.live

        @classmethod
        def peak(cls):
            return cls.peak_since

    MB = 2**20
    variants = {"baseline": (2000, 500), "a_minus_i": (2000, 600), "xsa": (2000, 700)}  # resident, activations

    def build(name):
        def made():
            Fake.live += variants[name][0] * MB
            return name
        return made

    def warm_up(name):
        Fake.peak_since = max(Fake.peak_since, Fake.live + variants[name][1] * MB)

    measured = {name: own_peak_mb(build(name), warm_up, Fake)[1] for name in variants}
    assert measured == {name: float(r + a) for name, (r, a) in variants.items()}
    assert measured["xsa"] / measured["baseline"] == pytest.approx(2700 / 2500)  # not (6000 + 700) / 2500


def test_the_fusion_audit_keeps_each_variant_as_it_finishes(tmp_path, monkeypatch):
    """A GPU step cut off by its time limit keeps the variants audited before it: the JSON is rewritten after
    each (the audit itself is faked here; the test above runs the real one)."""
    import fusion

    def audit(model, inputs, fused_xsa):
        if fused_xsa:
            raise KeyboardInterrupt  # the time limit, while the third variant compiles
        return {"forward": {"kernels": ["k_0"], "library": []}, "backward": {"kernels": [], "library": []},
                "saved": 1, "saved_mb": 1.0}

    monkeypatch.setattr(fusion, "audit", audit)
    with pytest.raises(KeyboardInterrupt):
        fusion.main(["--preset", "tiny", "--variants", "a_minus_i", "xsa", "--out", str(tmp_path / "f.json")])
    rows = json.loads((tmp_path / "f.json").read_text())["rows"]
    assert [r["variant"] for r in rows] == ["baseline", "a_minus_i"] and rows[1]["extra_forward"] == 0
