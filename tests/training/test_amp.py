"""precision: fp16 (autocast + GradScaler) and compile: true, against their plain counterparts."""
import pytest
import torch

import trainlab
from trainlab.optim.recipes import create_optimizer
from trainlab.training.loop import amp_step

BASE = {"dataset": "digits", "model": "mlp", "epochs": 2, "batch_size": 64, "lr": 0.05, "threads": 1,
        "dropout": 0.0}


def cfg(tmp_path, **kw):
    return {**BASE, "runs_dir": str(tmp_path / "runs"), **kw}


def test_amp_step_skips_an_overflowing_step_and_lowers_the_scale():
    w = torch.nn.Parameter(torch.ones(3))
    opt = create_optimizer("sgd", [w], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16)
    (scaler.scale((w * 1e35).sum())).backward()  # 1e35 * 65536 overflows float32: inf gradients
    scaler.unscale_(opt)
    assert amp_step(scaler, opt) is True
    assert torch.equal(w.detach(), torch.ones(3)) and scaler.get_scale() == 2.0 ** 15
    opt.zero_grad()
    (scaler.scale((w * 2.0).sum())).backward()
    scaler.unscale_(opt)
    assert amp_step(scaler, opt) is False
    assert torch.allclose(w.detach(), torch.full((3,), 1 - 0.1 * 2.0))  # the unscaled gradient, one sgd step
    assert scaler.get_scale() == 2.0 ** 15


def test_fp16_trains_like_fp32_logs_its_scale_and_resumes_bit_for_bit(tmp_path, kill_and_resume):
    fp32 = trainlab.train(cfg(tmp_path, name="fp32"), quiet=True, report=False)
    ref = trainlab.train(cfg(tmp_path, name="fp16", precision="fp16"), quiet=True, report=False)
    rows = ref.metrics
    assert all(r["fp16_scale"] == 2.0 ** 16 and r["fp16_skipped_steps"] == 0 for r in rows)
    assert ref.config["precision"] == "fp16"
    # autocast really ran in float16: close to fp32, not equal
    a, b = fp32.metrics[-1]["train_loss"], rows[-1]["train_loss"]
    assert a != b and b == pytest.approx(a, rel=0.05)

    whole = trainlab.train(cfg(tmp_path, name="whole", precision="fp16", eval_every=10), quiet=True, report=False)
    done = kill_and_resume(cfg(tmp_path, precision="fp16", eval_every=10), at_step=2 * 20 // 2)
    from trainlab.runs.files import load_state, load_tensors

    assert "scaler" in load_state(done.latest_checkpoint()[1])  # the scale survives a resume
    x, y = load_tensors(whole.latest_checkpoint()[0]), load_tensors(done.latest_checkpoint()[0])
    assert all(torch.equal(x[k], y[k]) for k in x)


@pytest.mark.slow
def test_compile_trains_the_same_model(tmp_path):
    eager = trainlab.train(cfg(tmp_path, name="eager", epochs=1), quiet=True, report=False)
    compiled = trainlab.train(cfg(tmp_path, name="compiled", epochs=1, compile=True), quiet=True, report=False)
    assert compiled.config["compile"] is True
    from trainlab.runs.files import load_tensors

    a, b = load_tensors(eager.latest_checkpoint()[0]), load_tensors(compiled.latest_checkpoint()[0])
    assert a.keys() == b.keys()  # no `_orig_mod.` prefix: the plain module's weights
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
