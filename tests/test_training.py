import copy
import dataclasses
import io
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from committed import train_params
from plain_way import plain_step  # the benchmarks' baseline step, the reference here
from resnet_cifar.config import TrainParams
from resnet_cifar.data.batches import DeviceSplit, normalize, train_batches
from resnet_cifar.engine import trainer as trainer_module
from resnet_cifar.engine.run import build_trainer
from resnet_cifar.engine.schedules import lr_schedule
from resnet_cifar.engine.trainer import EpochResult, Trainer, TrainingDiverged, seed_everything
from resnet_cifar.errors import UserError
from resnet_cifar.model.resnet import build_model
from tiny import TP, tiny_params, tiny_split

CPU = torch.device("cpu")


def make_trainer(tp: TrainParams, precision: str = "fp32", seed: int = 0, device: torch.device = CPU) -> Trainer:
    return build_trainer(tiny_params(tp, precision, seed), tiny_split(40, 1), tiny_split(20, 2), device)


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@dataclass(frozen=True)
class FinishedRun:
    """A run of make_trainer(tp, precision, device=device) for tp.epochs, as other runs compare with it."""
    weights: dict[str, torch.Tensor]  # the trained model's, at the end
    evaluated: dict[str, torch.Tensor]  # the evaluated model's (the averaged weights with train.ema_decay)
    results: list[EpochResult]
    best_epoch: int
    best_state: dict[str, torch.Tensor]
    first_epoch_state: bytes  # trainer.state_dict() after the first epoch, through bytes as the stage saves it


@pytest.fixture(scope="module")
def finished_run() -> Callable[..., FinishedRun]:
    """finished_run(tp, precision, device): that run, trained once for the tests of this module that compare with
    it (same seed, resuming)."""
    runs: dict[tuple[str, str, str], FinishedRun] = {}

    def run_of(tp: TrainParams, precision: str = "fp32", device: torch.device = CPU) -> FinishedRun:
        key = (repr(tp), precision, str(device))
        if key not in runs:
            trainer = make_trainer(tp, precision, device=device)
            trainer.train_epoch()
            buffer = io.BytesIO()
            torch.save(trainer.state_dict(), buffer)
            while trainer.epoch < tp.epochs:
                trainer.train_epoch()
            runs[key] = FinishedRun(weights(trainer), copy.deepcopy(trainer.evaluated.state_dict()),
                                    list(trainer.history), trainer.best_epoch, trainer.best_state, buffer.getvalue())
        return runs[key]
    return run_of


@pytest.mark.e2e
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_same_seed_gives_identical_weights_and_metrics(precision, device, finished_run):
    if precision == "fp16" and device.type != "cuda":
        pytest.skip("fp16 (with its gradient scaler) is a CUDA precision")
    a = finished_run(TP, precision, device)
    b = make_trainer(TP, precision, device=device)
    rb = [b.train_epoch() for _ in range(2)]
    assert_same_weights(a.weights, weights(b))
    def untimed(r):
        return dataclasses.replace(r, seconds=0, images_per_sec=0)
    assert [untimed(r) for r in a.results] == [untimed(r) for r in rb]
    c = make_trainer(TP, precision, seed=1, device=device)
    c.train_epoch()
    c.train_epoch()
    assert not torch.equal(a.weights["fc.weight"], weights(c)["fc.weight"])


def seeded_draws(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first draws of the weight-init stream (torch's global RNG) and of the data stream after seeding."""
    generator = seed_everything(seed)
    return torch.randint(2**31, (64,)), torch.randint(2**31, (64,), generator=generator)


def test_both_streams_are_functions_of_the_seed_alone_and_the_data_stream_does_not_replay_weight_init():
    draws = {seed: seeded_draws(seed) for seed in (0, 1, 42)}
    torch.rand(1000)  # whatever ran before in the process (another run, a test) must not leak into a run's streams
    for seed, (init, data) in draws.items():
        again_init, again_data = seeded_draws(seed)
        assert torch.equal(init, again_init) and torch.equal(data, again_data), seed
        assert not torch.equal(init, data), seed
    for (init_a, data_a), (init_b, data_b) in itertools.combinations(draws.values(), 2):
        assert not torch.equal(init_a, init_b) and not torch.equal(data_a, data_b)  # another seed, other streams


# Every speed-run technique on: the averaged weights and the alternating flips' half are training state too.
SPEEDRUN = dataclasses.replace(TP, flip="alternate", translate=2, padding="reflect", ema_decay=0.9,
                               bn_bias_lr_scale=8.0, scheduler="linear", early_image_sizes=[16])


@pytest.mark.e2e
@pytest.mark.parametrize("tp", [TP, SPEEDRUN], ids=["default", "speedrun"])
def test_resumed_training_matches_uninterrupted_training_exactly(device, tp, finished_run):
    straight = finished_run(tp, device=device)
    resumed = make_trainer(tp, seed=123, device=device)  # different init and RNG: all must come from the state
    state = torch.load(io.BytesIO(straight.first_epoch_state), weights_only=True, map_location="cpu")
    resumed.load_state_dict(state)  # as the stage loads it
    resumed.train_epoch()

    assert_same_weights(straight.weights, weights(resumed))
    assert [r.val_acc for r in straight.results] == [r.val_acc for r in resumed.history]
    assert [r.progress for r in straight.results] == [r.progress for r in resumed.history]
    assert straight.best_epoch == resumed.best_epoch
    assert_same_weights(straight.best_state, resumed.best_state)
    assert_same_weights(straight.evaluated, resumed.evaluated.state_dict())


@pytest.mark.e2e
def test_the_curve_within_an_epoch_has_a_point_per_read_and_one_at_the_end_that_average_to_the_epoch(monkeypatch):
    monkeypatch.setattr(trainer_module, "MIN_POINTS", 2)  # a read every 5 // 2 steps
    tp = dataclasses.replace(TP, epochs=2, batch_size=8)  # 40 images: 5 steps an epoch
    trainer = make_trainer(tp)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=tp.lr)
    schedule, lrs = lr_schedule(optimizer, tp, 5), []
    for _ in range(10):  # the lr of each step, from the same schedule
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    for epoch in (1, 2):
        r = trainer.train_epoch()
        points = np.array(r.progress)
        # After steps 2 and 4 (16 and 32 of the 40 images), then at the end after step 5 (8 images).
        assert points[:, 0].tolist() == pytest.approx([epoch - 1 + 0.4, epoch - 1 + 0.8, epoch])
        images = np.array([16, 16, 8])
        assert (points[:, 1] * images).sum() / 40 == pytest.approx(r.train_loss, rel=1e-9)
        assert (points[:, 2] * images).sum() / 40 == pytest.approx(r.train_acc, rel=1e-9)
        first = 5 * (epoch - 1)
        assert points[:, 3].tolist() == pytest.approx([lrs[first + 1], lrs[first + 3], lrs[first + 4]])  # steps 2, 4, 5
        assert r.lr == points[-1, 3]


@pytest.mark.e2e
def test_diverging_loss_stops_with_the_learning_rate(device):
    trainer = make_trainer(dataclasses.replace(TP, lr=1e30, scheduler="multistep", warmup_epochs=0), device=device)
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf).*learning rate 1e\+30"):
        trainer.train_epoch()
    assert trainer.history == [] and trainer.best_state is None


@pytest.mark.e2e
def test_label_smoothing_changes_the_loss(finished_run):
    plain = finished_run(TP).results[0]
    smooth = make_trainer(dataclasses.replace(TP, label_smoothing=0.2)).train_epoch()
    assert plain.train_loss != pytest.approx(smooth.train_loss)


# A few steps at a learning rate high enough that the BatchNorm running averages fall far behind the weights.
FAST = train_params(epochs=2, batch_size=8, lr=0.3, weight_decay=1e-4, scheduler="multistep", warmup_epochs=0,
                    label_smoothing=0.0, flip="random", translate=4, precise_bn_batches=0)


@pytest.mark.e2e
def test_precise_bn_makes_eval_mode_compute_what_train_mode_computes():
    """Recomputed over a batch, the statistics make the eval-mode forward of that batch the train-mode one, once each
    variance is turned from the unbiased estimate BatchNorm stores back into the batch's own; the running averages
    left by training do not."""
    trainer = make_trainer(FAST)
    trainer.train_epoch()
    images, model = normalize(trainer.train_data.images), trainer.model
    layers = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    counts = {}  # per layer, n: the values of a channel it normalises over in the batch (images x height x width)
    hooks = [bn.register_forward_hook(lambda bn, args, _: counts.__setitem__(bn, args[0][:, 0].numel()))
             for bn in layers]
    with torch.no_grad():
        stale = model.eval()(images)
        before = weights(trainer)
        reference = model.train()(images)  # normalised with this batch's own statistics (and updates the buffers)
        model.load_state_dict(before)
    for hook in hooks:
        hook.remove()
    trainer.tp = dataclasses.replace(FAST, batch_size=len(images), precise_bn_batches=1)  # one batch: all 40 images
    trainer.recompute_batchnorm_statistics()
    assert model.bn1.num_batches_tracked.item() == trainer.steps_per_epoch  # still counts training steps
    assert model.bn1.momentum == 0.1
    with torch.no_grad():
        for bn in layers:  # train mode divides by the biased variance, sum / n; BatchNorm stores sum / (n - 1)
            bn.running_var.mul_((counts[bn] - 1) / counts[bn])
        precise = model.eval()(images)
    # Float32 rounding only: the two passes normalise in different orders of operations, each rounding at 6e-8 of
    # its value, through 20 BatchNorm layers. The stored unbiased variances alone would move the logits by about
    # the sum over layers of 1 / (2n) (sqrt(n / (n - 1)) - 1 each), 5e-3 of the largest here: this tolerance tells
    # that apart, and the running averages (a mix of the initial statistics and past weights') fail it too.
    tolerance = 1e-5 * reference.abs().max().item()
    torch.testing.assert_close(precise, reference, rtol=0, atol=tolerance)
    assert (stale - reference).abs().max().item() > tolerance


def validation_with_precise_bn(trainer: Trainer, batches: int) -> tuple[float, float]:
    """The validation loss and accuracy of the trainer's current weights with the BatchNorm statistics recomputed over
    `batches` training batches; the trainer keeps its own statistics and params."""
    saved, tp = weights(trainer), trainer.tp
    trainer.tp = dataclasses.replace(tp, precise_bn_batches=batches)
    try:
        trainer.recompute_batchnorm_statistics()
        return trainer.validate()
    finally:
        trainer.model.load_state_dict(saved)
        trainer.tp = tp


@pytest.mark.e2e
def test_precise_bn_changes_evaluation_only():
    off = make_trainer(FAST)
    on = make_trainer(dataclasses.replace(FAST, precise_bn_batches=3))
    off_results, on_results = [], []
    for _ in range(2):
        off_results.append(off.train_epoch())
        on_results.append(on.train_epoch())
        # Validation sees statistics of the current weights: those precise BN computes from them afresh (the
        # weights are the same, checked below), not the running averages training left.
        precise = validation_with_precise_bn(off, batches=3)
        assert (on_results[-1].val_loss, on_results[-1].val_acc) == precise
        assert off_results[-1].val_loss != precise[0]
    # Same weights and data stream: it draws no random numbers and training never reads the running statistics.
    for name, value in off.model.named_parameters():
        assert torch.equal(value, dict(on.model.named_parameters())[name]), name
    assert torch.equal(off.generator.get_state(), on.generator.get_state())
    assert [r.train_loss for r in off_results] == [r.train_loss for r in on_results]


def test_precise_bn_averages_the_first_whole_batches_unaugmented():
    trainer = make_trainer(dataclasses.replace(FAST, batch_size=16, precise_bn_batches=5))
    trainer.recompute_batchnorm_statistics()  # 40 images: two whole batches of 16, the short third left out
    first = normalize(trainer.train_data.images[:32]).double()
    conv = trainer.model.conv1.weight.double()  # the stem's BatchNorm sees this convolution of the images
    outputs = torch.nn.functional.conv2d(first, conv, padding=1).view(2, 16, 64, 32, 32)
    expected_mean = outputs.mean((1, 3, 4)).mean(0)
    expected_var = outputs.transpose(1, 2).reshape(2, 64, -1).var(2).mean(0)  # unbiased, as BatchNorm stores it
    torch.testing.assert_close(trainer.model.bn1.running_mean.double(), expected_mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(trainer.model.bn1.running_var.double(), expected_var, rtol=1e-4, atol=1e-5)
    assert trainer.model.bn1.num_batches_tracked.item() == 0  # no training step yet


def lrs(tp: TrainParams, steps_per_epoch: int) -> list[float]:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=tp.lr, momentum=0.9)
    schedule = lr_schedule(optimizer, tp, steps_per_epoch)
    values = []
    for _ in range(tp.epochs * steps_per_epoch):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return values


def test_multistep_is_the_seed_schedule():
    values = lrs(train_params(epochs=5, lr=0.1, milestones=[2, 4], gamma=0.1, scheduler="multistep", warmup_epochs=0),
                 steps_per_epoch=3)
    assert values == pytest.approx([0.1] * 6 + [0.01] * 6 + [0.001] * 3)


def test_warmup_then_cosine_decay():
    values = lrs(train_params(epochs=4, lr=0.2, scheduler="cosine", warmup_epochs=1), steps_per_epoch=4)
    assert values[:4] == pytest.approx([0.05, 0.1, 0.15, 0.2])
    # Then half a cosine over the 12 steps left, from lr towards zero.
    assert values[4:] == pytest.approx([0.1 * (1 + math.cos(math.pi * k / 12)) for k in range(12)])


def test_onecycle_peaks_at_lr_after_warmup():
    values = lrs(train_params(epochs=4, lr=0.4, scheduler="onecycle", warmup_epochs=1), steps_per_epoch=10)
    # OneCycleLR's defaults: from lr / 25 (div_factor) up to lr at the warmup's last step (the 10th of 40), then
    # down to the start / 1e4 (final_div_factor) at the last step.
    assert int(np.argmax(values)) == 9 and values[9] == pytest.approx(0.4)
    assert values[0] == pytest.approx(0.4 / 25) and values[-1] == pytest.approx(0.4 / 25 / 1e4)


@pytest.mark.e2e
def test_given_the_same_batches_the_engine_takes_the_textbook_steps(monkeypatch):
    """The Trainer (fused SGD, summed loss rescaled per batch, channels_last) updates the weights as the plain loop
    of mean loss, default SGD and a per-step schedule does, batch for batch: any accuracy difference between the
    two ways can only come from the data they draw. In float64 weights, so that what is compared is the update
    rule: at this learning rate a few steps amplify float32 rounding (fused kernel, NHWC convolutions) to a
    percent of the distance moved, which would hide a real difference of that size."""
    torch.set_default_dtype(torch.float64)
    try:
        steps_of_both_ways(monkeypatch)
    finally:
        torch.set_default_dtype(torch.float32)


def steps_of_both_ways(monkeypatch) -> None:
    tp = train_params(epochs=2, batch_size=16, lr=0.2, weight_decay=5e-4, nesterov=True, scheduler="onecycle",
                      warmup_epochs=0.5, label_smoothing=0.1, precise_bn_batches=0)  # the buffers as training left them
    data = DeviceSplit(tiny_split(40, 1), CPU)  # 16 + 16 + 8: the last batch is partial
    epochs = [list(train_batches(data, tp.batch_size, torch.Generator().manual_seed(e))) for e in range(2)]
    feed = iter(epochs)
    monkeypatch.setattr(trainer_module, "train_batches", lambda *args, **kwargs: iter(next(feed)))
    trainer = make_trainer(tp)
    plain = build_model("resnet18", zero_init_residual=True)
    plain.load_state_dict(trainer.model.state_dict())
    start = [p.detach().clone() for p in plain.parameters()]
    optimizer = torch.optim.SGD(plain.parameters(), lr=tp.lr, momentum=tp.momentum, weight_decay=tp.weight_decay,
                                nesterov=True)
    scheduler = lr_schedule(optimizer, tp, trainer.steps_per_epoch)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=tp.label_smoothing)
    for batches in epochs:
        plain.train()
        for images, labels, _ in batches:
            plain_step(plain, optimizer, criterion, images.contiguous(), labels)
            scheduler.step()
        trainer.train_epoch()
    moved = max((p - q).abs().max().item() for p, q in zip(plain.parameters(), start, strict=True))
    gap = max((p - q).abs().max().item() for p, q in zip(plain.parameters(), trainer.model.parameters(), strict=True))
    assert next(plain.parameters()).dtype == torch.float64
    assert gap < 1e-5 * moved, (gap, moved)  # float64 rounding only
    for a, b in zip(plain.buffers(), trainer.model.buffers(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("epochs, warmup_epochs, steps_per_epoch", [(1, 0.9, 4), (1, 0.1, 4), (2, 0.5, 2), (1, 0.5, 3)])
def test_onecycle_runs_whatever_the_warmup_rounds_to(epochs, warmup_epochs, steps_per_epoch):
    """A warmup that rounds to every step of the run, or to fewer than two, used to divide by zero in OneCycleLR."""
    values = lrs(train_params(epochs=epochs, lr=0.2, scheduler="onecycle", warmup_epochs=warmup_epochs),
                 steps_per_epoch)
    assert len(values) == epochs * steps_per_epoch and max(values) == pytest.approx(0.2)
    assert values[-1] < values[0] < 0.2


def test_onecycle_needs_three_steps():
    with pytest.raises(UserError, match="at least 3 optimisation steps"):
        lrs(train_params(epochs=1, lr=0.2, scheduler="onecycle", warmup_epochs=0.5), steps_per_epoch=2)
