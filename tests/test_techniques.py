"""The speed-run techniques of the engine, each checked for what it promises: averaged weights (train.ema_decay),
a faster-learning BatchNorm bias (train.bn_bias_lr_scale), the linear schedule and progressive resizing
(train.early_image_sizes). The augmentations
(train.flip, train.translate, train.padding) are checked in test_data.py."""
import dataclasses

import pytest
import torch
from torch import nn

from committed import train_params
from resnet_cifar.engine.run import build_trainer
from resnet_cifar.engine.schedules import lr_schedule
from resnet_cifar.engine.trainer import parameter_groups
from resnet_cifar.errors import UserError
from resnet_cifar.model.resnet import build_model
from tiny import tiny_params, tiny_split

CPU = torch.device("cpu")
TP = train_params(epochs=2, batch_size=8, lr=0.05, scheduler="cosine", warmup_epochs=0, flip="none", translate=0,
                  ema_decay=0.0, bn_bias_lr_scale=1.0, precise_bn_batches=0)


def linear_model(classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, classes))


def lrs_of_groups(tp, model: nn.Module, steps_per_epoch: int) -> list[list[float]]:
    optimizer = torch.optim.SGD(parameter_groups(model, tp), lr=tp.lr, weight_decay=tp.weight_decay)
    scheduler = lr_schedule(optimizer, tp, steps_per_epoch)
    values = []
    for _ in range(tp.epochs * steps_per_epoch):
        values.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return values


def test_averaged_weights_are_the_closed_form_average_of_every_step():
    """EMA with decay d after steps 1..T: d^(T-1) w_1 + sum over t >= 2 of (1 - d) d^(T-t) w_t, the first step's
    weights copied as they are; validation and the best model are those averaged weights."""
    decay = 0.7
    trainer = build_trainer(tiny_params(dataclasses.replace(TP, ema_decay=decay)), tiny_split(40, 1),
                            tiny_split(20, 2), CPU, build_model=linear_model)
    steps = []
    update = trainer.ema.update_parameters
    def recording_update(model):
        steps.append([p.detach().clone() for p in model.parameters()])
        update(model)
    trainer.ema.update_parameters = recording_update
    trainer.train_epoch()
    assert trainer.best_epoch == 1
    for key, value in trainer.evaluated.state_dict().items():  # the first epoch is the best so far
        assert torch.equal(trainer.best_state[key], value), key
    trainer.train_epoch()
    assert len(steps) == 2 * trainer.steps_per_epoch
    total = len(steps)
    for i, averaged in enumerate(trainer.evaluated.parameters()):
        expected = decay ** (total - 1) * steps[0][i].double()
        for t in range(1, total):
            expected += (1 - decay) * decay ** (total - 1 - t) * steps[t][i].double()
        torch.testing.assert_close(averaged.double(), expected, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(averaged, steps[-1][i])  # not simply the last weights
    assert trainer.evaluated is not trainer.model


def test_without_ema_the_trained_model_is_the_evaluated_one():
    trainer = build_trainer(tiny_params(TP), tiny_split(16, 1), tiny_split(8, 2), CPU, build_model=linear_model)
    assert trainer.ema is None and trainer.evaluated is trainer.model


def test_batchnorm_biases_get_their_own_learning_rate_and_the_same_decay_per_step():
    model = build_model("resnet18")
    tp = dataclasses.replace(TP, lr=0.1, weight_decay=5e-4, bn_bias_lr_scale=16.0)
    rest, biases = parameter_groups(model, tp)
    bn_biases = [m.bias for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert {id(p) for p in biases["params"]} == {id(p) for p in bn_biases}
    assert len(rest["params"]) + len(biases["params"]) == len(list(model.parameters()))
    assert biases["lr"] == pytest.approx(1.6) and biases["weight_decay"] == pytest.approx(5e-4 / 16)
    assert "lr" not in rest  # the optimiser's own lr and weight decay
    assert len(parameter_groups(model, dataclasses.replace(tp, bn_bias_lr_scale=1.0))) == 1


@pytest.mark.parametrize("scheduler, warmup", [("onecycle", 1), ("linear", 1), ("cosine", 0)])
def test_every_schedule_keeps_the_batchnorm_biases_at_their_multiple_of_the_lr(scheduler, warmup):
    tp = dataclasses.replace(TP, epochs=3, lr=0.2, scheduler=scheduler, warmup_epochs=warmup, bn_bias_lr_scale=8.0)
    values = lrs_of_groups(tp, build_model("resnet18"), steps_per_epoch=5)
    assert max(v[0] for v in values) == pytest.approx(0.2)
    for rest, biases in values:
        assert biases == pytest.approx(8 * rest)


def test_linear_schedule_warms_up_then_falls_in_a_straight_line_to_zero():
    tp = dataclasses.replace(TP, epochs=3, lr=0.3, scheduler="linear", warmup_epochs=1)
    values = [v[0] for v in lrs_of_groups(tp, linear_model(10), steps_per_epoch=4)]
    assert values[:4] == pytest.approx([0.075, 0.15, 0.225, 0.3])
    decay = values[4:]  # 8 steps from lr down towards 0
    assert decay == pytest.approx([0.3 * (1 - k / 8) for k in range(8)])


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_early_epochs_train_at_their_sides_and_everything_else_sees_the_model_side(ema_decay):
    """Epochs 1 and 2 train at 8x8 and 12x12, epoch 3 at model.image_size 16; precise BN, validation and the
    saved model (the averaged copy, with ema_decay) only ever see 16."""
    tp = dataclasses.replace(TP, epochs=3, early_image_sizes=[8, 12], ema_decay=ema_decay, precise_bn_batches=2)
    params = tiny_params(tp)
    params = dataclasses.replace(params, model=dataclasses.replace(params.model, image_size=16))
    trainer = build_trainer(params, tiny_split(32, 1), tiny_split(8, 2), CPU)
    seen: list[tuple[int, str, int]] = []  # (epoch, phase, side at the first convolution)
    in_training_step = False
    def record(module, inputs):
        seen.append((trainer.epoch + 1, "training" if in_training_step else "evaluated", inputs[0].shape[-1]))
    trainer.model.conv1.register_forward_pre_hook(record)
    if trainer.evaluated is not trainer.model:
        trainer.evaluated.conv1.register_forward_pre_hook(record)
    train_forward = trainer.train_forward
    def marked_train_forward(images):
        nonlocal in_training_step
        in_training_step = True
        try:
            return train_forward(images)
        finally:
            in_training_step = False
    trainer.train_forward = marked_train_forward
    for _ in range(3):
        trainer.train_epoch()
    assert {(e, side) for e, phase, side in seen if phase == "training"} == {(1, 8), (2, 12), (3, 16)}
    assert {side for _, phase, side in seen if phase == "evaluated"} == {16}
    assert {e for e, phase, _ in seen if phase == "evaluated"} == {1, 2, 3}  # precise BN and validation each epoch
    assert trainer.model.image_size == trainer.evaluated.image_size == 16


def test_early_image_sizes_need_a_model_with_an_image_size():
    with pytest.raises(UserError, match="needs a model with an image_size"):
        build_trainer(tiny_params(dataclasses.replace(TP, early_image_sizes=[8])), tiny_split(16, 1),
                      tiny_split(8, 2), CPU, build_model=linear_model)
