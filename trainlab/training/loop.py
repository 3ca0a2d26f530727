"""The training loop, read top to bottom: `fit` slices a batch, augments and preprocesses it,
runs forward, loss + penalty, backward and the optimizer step, then logs, evaluates, checks early
stopping and writes a checkpoint, with plain `if`s; `finish` restores the best weights, scores the
test split once and writes the summary (and the report).

Detection differs in three places, each a plain `if`: the augmentation moves the boxes with the
pixels, the detector is called with the targets and returns its named losses (their sum is the
training loss; each is logged as train_loss_<name>), and evaluation scores mAP (evaluation.py).

Everything a resumed run needs is the `TrainState` in each checkpoint, so a run killed at any
point and resumed ends with the same weights, bit for bit, on CPU.

The weights scored and kept are the live ones, `ema`'s average, or a schedule-free optimizer's
average x (`optimizer.evaluation_weights`, with batch-norm statistics recomputed for x): x is then
also what the checkpoints' weights files hold, and the live weights it trains at go in the state.
With `swa`, the live weights are scored until the last evaluation, which scores SWA's average
(batch-norm statistics recomputed on the training set) and alone writes best.safetensors, so the
test score is the average's; the checkpoints hold the live weights, the average is in the state
(trainlab.training.swa).
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any, Callable

import torch

from .. import distributed
from .. import runs as rf
from ..config import Config
from ..models import load_weights
from ..nn.layers import batch_norms, recompute_bn_stats
from ..report.progress import Progress
from .batch import answers, hits, train_batch
from .build import Training
from .diagnostics import Diagnostics
from .evaluation import autocast, batches, evaluate_split, loss_fn
from .loggers import Loggers
from .saved import write_run_report
from .state import TrainState, new_sums

OnEval = Callable[[dict[str, Any]], Any]  # called with each evaluation row; a true result (or a reason) stops the run


def fit(p: Training, run: rf.Run | None, st: TrainState, *, resumed: bool, quiet: bool, on_eval: OnEval | None,
        report: bool, score_test: bool = True) -> rf.Run | None:
    """The loop. In a distributed run every rank runs it on its slice of each batch; rank 0 alone
    (run is None elsewhere) writes rows, checkpoints and the summary, and gets the Run back."""
    cfg, model, net, opt, dev = p.cfg, p.model, p.net, p.optimizer, p.device
    classify = p.data.task in ("classification", "segmentation")  # class scores: train accuracy too
    detect = p.data.task == "detection"  # the detector takes the targets and returns its named losses
    parts = tuple(model.loss_names) if detect else ()
    world = p.world
    main, scaler = world.main, st.scaler
    train_x, train_y = p.data.train.x.to(dev), p.data.train.y.to(dev)  # uint8 images stay small in memory
    n, bsz, spe = len(train_y), min(cfg.batch_size, len(train_y)), p.steps_per_epoch
    total_steps = cfg.epochs * spe
    eval_every = cfg.eval_every or spe
    log_every = cfg.log_every or eval_every
    ckpt_every = cfg.checkpoint_every or eval_every
    ckpts = rf.Checkpoints(run.ckpt_dir, cfg.keep_checkpoints, cfg.keep_every) if main else None
    sync_free = dev.type == "cuda"  # on a GPU, read metrics and check finiteness only when a row is logged
    log = rf.MetricsLog(run.path if main else None, rows=run.metrics[: st.metrics_rows] if resumed and main else [])
    log.flush()
    diag = Diagnostics(model, p, run.path) if cfg.diagnostics and main else None
    if diag is not None:
        diag.truncate(st.diagnostics_rows if resumed else 0)
    # TensorBoard, MLflow (`loggers`): copies of each row; rank 0 alone, and nothing when none is asked for
    loggers = Loggers(cfg, run, model, diag, resumed_at=st.step if resumed else None) if main else Loggers()
    perm = st.replay_order(n, dev) if resumed else None
    message = ""
    averaged = opt.has_evaluation_point  # schedule-free: trained at y, scored, kept and saved at its average x
    fit_bn = (lambda m: recompute_bn_stats(m, batches(p, bn_sample(train_x), bsz))) if batch_norms(model) else None
    fit_bn_all = (lambda m: recompute_bn_stats(m, batches(p, train_x, bsz))) if batch_norms(model) else None

    def scored_weights(last: bool):
        """`ema`'s average, the optimizer's evaluation point (x, with its own BN statistics), SWA's average
        at the last evaluation (BN statistics of the whole training set), or the live weights."""
        if st.swa is not None:
            return st.swa.applied(model, fit_bn_all) if last else nullcontext(model)
        return st.ema.applied(model) if st.ema is not None else opt.evaluation_weights(model, fit_bn)

    def evaluate(row: dict[str, Any]) -> None:  # validation metrics, diagnostics, best weights, stop checks
        nonlocal message
        last = row["step"] == total_steps
        with scored_weights(last):
            row.update({f"val_{k}": v for k, v in evaluate_split(p, p.data.val.x, p.data.val.y, world=world,
                                                                     tta=cfg.tta).items()})
            if st.swa is not None and last:
                row["swa_models"] = st.swa.n  # this row scores the average of that many epochs' weights
            candidate = row["step"] > 0 and (st.swa is None or last)  # with swa, its final average is the answer
            if candidate and st.early.update(row[cfg.monitor], row["epoch"], row["step"]) and main:
                rf.save_tensors(run.ckpt_dir / "best.safetensors", model.state_dict(), {"step": str(row["step"])})
        if diag is not None:
            diag.record(row["step"], row["epoch"])
        if cfg.early_stopping and st.early.should_stop():
            st.status = "early_stopped"
        why = on_eval(dict(row)) if on_eval is not None and main else None
        if why and not st.status:  # a string says why (a search's pruner: "pruned at epoch 3"), and is the run's message
            st.status = "stopped"
            message = why if isinstance(why, str) else f"stopped by the on_eval hook at epoch {row['epoch']:g}"
        st.status = world.agree(st.status)  # rank 0 decides: every rank leaves the loop at the same step

    if main:
        rf.write_json(run.path / "summary.json", {**run.summary, "status": "running"})
    if not quiet:
        d = p.data
        trainable = sum(t.numel() for t in model.parameters() if t.requires_grad)
        frozen = sum(t.numel() for t in model.parameters()) - trainable
        print(f"{cfg.model} on {cfg.dataset} ({len(d.train.y):,} train / {len(d.val.y):,} val / {len(d.test.y):,} "
              f"test), {trainable:,} trainable parameters" + (f" + {frozen:,} frozen" if frozen else "")
              + f", {cfg.epochs} epochs of {spe} "
              f"steps, {dev.type}, {torch.get_num_threads()} threads"
              + (f" x {world.size} processes ({world.backend})" if world.distributed else "")
              + (f", resuming at step {st.step}" if st.step else "") + f"\nrun folder: {run.path}", flush=True)
    progress = Progress(total_steps, spe, quiet=quiet, start_step=st.step, batch_size=bsz, accuracy=classify)
    if cfg.eval_at_start and st.step == 0 and not log.rows:
        row = {"epoch": 0.0, "step": 0, "lr": float(p.lr_at(0.0)), "elapsed": 0.0}
        evaluate(row)
        log.append(row)
        loggers.log(row)
        progress.log_eval(row, cfg.epochs)
    model.train()
    tick = time.perf_counter()
    with progress:
        while not st.status:
            # ---- batch: slice, augment, preprocess (all on whole tensors)
            if st.batch_in_epoch == 0:
                perm = st.next_order(n, dev)
            idx = world.shard(perm[st.batch_in_epoch * bsz:(st.batch_in_epoch + 1) * bsz])
            x, y = train_batch(p, train_x, train_y, idx, st.aug_gen, epoch=st.step // spe)  # y: (B, K) after mixup

            # ---- forward, loss + penalty, backward, step
            with autocast(p):
                out = net(x, y) if detect else net(x)  # detection: {name: loss} from the detector itself
            loss = sum(out.values()) if detect else loss_fn(out, y, cfg.label_smoothing, cfg.loss)
            total = loss + p.penalty(model) if p.penalty is not None else loss
            # (in a distributed run a bad loss shows in every rank's all-reduced gradient norm below)
            if not sync_free and not world.distributed and not torch.isfinite(total):
                st.status, message = "diverged", diverged("loss", float(total.detach()), st.step + 1, spe, opt, cfg)
                continue
            opt.zero_grad(set_to_none=True)
            (scaler.scale(total) if scaler else total).backward()
            diag_now = diag is not None and ((st.step + 1) % eval_every == 0 or st.step + 1 == total_steps)
            if scaler:
                scaler.unscale_(opt)  # fp16: clipping, the recorded norm and diagnostics see true gradients
            if diag_now:
                diag.before_step()
            if scaler:
                skipped = amp_step(scaler, opt)
            else:
                opt.step()
                skipped = False
            gnorm = None if skipped else opt.stats["grad_norm"]
            if gnorm is not None and not sync_free and not torch.isfinite(gnorm):
                st.status, message = "diverged", diverged("gradient norm", float(gnorm), st.step + 1, spe, opt, cfg)
                continue
            if diag_now:
                diag.after_step()
            st.step += 1
            if st.ema is not None:
                st.ema.update(model, st.step)
            if st.swa is not None and st.step % spe == 0:  # the end of an epoch: SWA averages from start_epoch on
                st.swa.update(model, st.step // spe)
            st.batch_in_epoch = 0 if st.batch_in_epoch + 1 == spe else st.batch_in_epoch + 1

            # ---- running train metrics, kept on the device until a row is logged
            s = st.sums
            with torch.no_grad():
                s["loss"] += loss.detach().double() * len(y)
                if classify:
                    s["correct"] += hits(out, y)  # a mixed example counts its target's weight on the prediction
                if detect:  # (P,) the named losses, summed like the loss
                    s["parts"] = s["parts"] + torch.stack([v.detach().double() for v in out.values()]) * len(y)
                if gnorm is not None:
                    s["gnorm"] += gnorm.double()
            s["count"] += answers(out, y) if classify else y.numel()
            s["examples"] += len(y)
            s["steps"] += gnorm is not None
            s["skipped"] += gnorm is None
            progress.update(st.step, None if sync_free else lambda: running(s, classify))

            # ---- log, evaluate, early-stop check, checkpoint
            evaluating = st.step % eval_every == 0 or st.step == total_steps
            if evaluating or st.step % log_every == 0:
                now = time.perf_counter()
                s["time"] += now - tick
                st.elapsed += now - tick
                row = train_row(st, spe, opt, world, classify, parts)
                if scaler:
                    row["fp16_skipped_steps"], row["fp16_scale"] = s["skipped"], scaler.get_scale()
                if sync_free and not all(map(torch.isfinite, (s["loss"], s["gnorm"]))):
                    st.status, message = "diverged", diverged("loss or gradient norm", float("nan"), st.step, spe, opt,
                                                             cfg, since=st.step - s["steps"] + 1)
                    continue
                if evaluating:
                    evaluate(row)
                log.append(row)
                loggers.log(row)
                progress.log_eval(row, cfg.epochs)
                st.sums = new_sums(dev)
                tick = time.perf_counter()
            if st.step == total_steps and not st.status:
                st.status = "finished"
            if st.step % ckpt_every == 0 or st.status:
                st.metrics_rows, st.diagnostics_rows = len(log.rows), diag.rows if diag is not None else 0
                state = st.state_dict(world)  # gathers every rank's random streams
                if main and averaged:  # the weights file is x (what `weights="last"` loads); resume needs y
                    state["live_weights"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                with opt.evaluation_weights(model, fit_bn) if averaged else nullcontext():
                    if main:
                        ckpts.save(st.step, model.state_dict(), state)
                tick = time.perf_counter()

    return finish(p, run, log, st, message, quiet, report, score_test, loggers) if main else None


BN_SAMPLE = 10_000  # training examples that set batch-norm statistics for an evaluation point


def bn_sample(x: torch.Tensor) -> torch.Tensor:
    """Up to BN_SAMPLE training examples spread evenly over the split (every k-th): the batches that
    recompute batch-norm statistics at an optimizer's evaluation point, the same at every evaluation."""
    return x[:: max(1, -(-len(x) // BN_SAMPLE))]


def amp_step(scaler, opt) -> bool:
    """fp16's step (gradients already unscaled): step unless a gradient overflowed, then update
    the scale. True when the step was skipped (the scale went down)."""
    before = scaler.get_scale()
    scaler.step(opt)
    scaler.update()
    return scaler.get_scale() < before


def running(s: dict[str, Any], classify: bool = True) -> dict[str, float]:
    """Train loss and (classify) accuracy of the current log period so far (reads the device's sums)."""
    loss = {"loss": float(s["loss"]) / max(1, s["examples"])}
    return {**loss, "acc": float(s["correct"]) / max(1, s["count"])} if classify else loss


def train_row(st: TrainState, spe: int, opt, world=distributed.SINGLE, classify: bool = True,
              parts: tuple[str, ...] = ()) -> dict[str, Any]:
    """The train metrics of the log period; `parts`, a detector's loss names, adds train_loss_<name> each."""
    s = st.sums
    if world.distributed:  # every rank's share of the period: the row one process would log
        keys = ("loss", "correct", "count", "examples")
        s = {**s, **dict(zip(keys, world.sum([s[k] for k in keys], st.device)))}
    return {"epoch": round(st.step / spe, 4), "step": st.step,
            **{f"train_{k}": v for k, v in running(s, classify).items()},
            **{f"train_loss_{k}": float(v) / max(1, s["examples"]) for k, v in zip(parts, s["parts"].reshape(-1))},
            "lr": float(opt.stats["lr"]), "grad_norm": float(s["gnorm"]) / max(1, s["steps"]),
            "time": s["time"], "images_per_s": s["examples"] / max(s["time"], 1e-9), "elapsed": st.elapsed}


def diverged(what: str, value: float, step: int, spe: int, opt, cfg: Config, since: int | None = None) -> str:
    where = f"between steps {since} and {step}" if since is not None and since < step else f"at step {step}"
    return (f"{what} became {value} {where} (epoch {step / spe:.2f}); the learning rate "
            f"({float(opt.stats.get('lr', cfg.lr)):.3g}) is likely too high for this model: lower lr, add "
            "warmup_epochs or clip_norm")


def finish(p: Training, run: rf.Run, log: rf.MetricsLog, st: TrainState, message: str, quiet: bool,
           report: bool, score_test: bool = True, loggers: Loggers | None = None) -> rf.Run:
    """Restore the best weights, score the test split, write the summary (and plots and report), and
    hand the loggers the final scores and files."""
    cfg, es = p.cfg, st.early
    best_path = run.ckpt_dir / "best.safetensors"
    if best_path.is_file():
        load_weights(p.model, rf.load_tensors(best_path), str(best_path))
    last = log.rows[-1] if log.rows else {}
    summary: dict[str, Any] = {
        **{k: v for k, v in run.summary.items() if k in ("arm", "group", "tags", "lr_find")},
        "status": st.status, "message": message, "monitor": cfg.monitor,
        "best": {"epoch": es.best_epoch, "step": es.best_step, cfg.monitor: es.best},
        "epochs_run": last.get("epoch", 0), "train_time_s": last.get("elapsed", 0.0),
        "parameters": sum(t.numel() for t in p.model.parameters()), "last": last,
        "classes": p.data.num_classes if p.data.task == "classification" else None,  # chance level: 1 / classes
    }
    if st.swa is not None:  # best and test are the average of this many epochs' weights
        summary["swa"] = {"start_epoch": st.swa.start_epoch, "lr": cfg.swa.lr, "models": st.swa.n}
    if best_path.is_file():
        best_row = next((r for r in log.rows if r["step"] == es.best_step), {})
        summary["best"].update({k: v for k, v in best_row.items() if k.startswith("val_")})
        if score_test:
            summary["test"] = evaluate_split(p, p.data.test.x, p.data.test.y, tta=cfg.tta)
    rf.write_json(run.path / "summary.json", summary)
    if st.status == "diverged" and not quiet:
        print(f"trainlab: run diverged: {message}")
    if report:
        write_run_report(run, p)
    if loggers is not None:
        loggers.finish(run, summary)
    if not quiet:
        print(final_line(summary, cfg.monitor))
        print(f"run folder: {run.path}" + (f"\nreport: {run.report}" if report else ""))
    return run


def final_line(summary: dict[str, Any], monitor: str) -> str:
    """'finished: test acc 0.9137  test loss 0.2409  (best val_loss 0.2041 at epoch 8)'; a regression
    run has no accuracy: 'finished: test loss 0.0412  (...)'."""
    t, best = summary.get("test", {}), summary.get("best", {})
    line = (f"test acc {t['acc']:.4f}  " if "acc" in t else "") + f"test loss {t['loss']:.4f}" if t else "no test score"
    if "top5" in t:
        line += f"  test top-5 {t['top5']:.4f}"
    if "miou" in t:
        line += f"  test mean IoU {t['miou']:.4f}"
    if "map50" in t:
        line += f"  test mAP@0.5 {t['map50']:.4f}  mAP@[.5:.95] {t['map']:.4f}"
    if best.get(monitor) is not None:
        line += f"  (best {monitor} {best[monitor]:.4f} at epoch {best['epoch']:g})"
    return f"{summary['status']}: {line}"
