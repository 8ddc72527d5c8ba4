"""The plain way most example repositories train, as the benchmarks' baseline: fp32, NCHW, torchvision PIL
transforms (RandomCrop + RandomHorizontalFlip, ToTensor, Normalize) in DataLoader worker processes."""
from __future__ import annotations

import copy

import torch
import torchvision.transforms as T
from PIL import Image
from torch import nn
from tqdm import tqdm

from resnet_cifar.config import Params, TrainParams
from resnet_cifar.data.batches import CIFAR10_MEAN, CIFAR10_STD, DeviceSplit
from resnet_cifar.data.dataset import Split
from resnet_cifar.engine.inference import loss_and_accuracy, predict_logits
from resnet_cifar.engine.schedules import lr_schedule
from resnet_cifar.model.resnet import model_from_params


class PilDataset(torch.utils.data.Dataset):
    """One PIL image at a time through torchvision transforms: train.translate as a padded RandomCrop, and any
    train.flip as RandomHorizontalFlip (torchvision has no alternating flip)."""

    def __init__(self, split: Split, tp: TrainParams) -> None:
        self.split = split
        padding_mode = {"zeros": "constant", "reflect": "reflect"}[tp.padding]
        steps = [T.RandomCrop(32, padding=tp.translate, padding_mode=padding_mode)] if tp.translate else []
        steps += [T.RandomHorizontalFlip()] if tp.flip != "none" else []
        self.transform = T.Compose(steps + [T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        image = Image.fromarray(self.split.images[i].transpose(1, 2, 0))
        return self.transform(image), int(self.split.labels[i])


def plain_step(model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module, images: torch.Tensor,
               labels: torch.Tensor) -> None:
    """One optimisation step as example repositories write it, the loss read back every step for logging."""
    loss = criterion(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    loss.item()


def train_plain(params: Params, subsets: dict[str, Split], workers: int,
                device: torch.device = torch.device("cpu")) -> nn.Module:
    """Train params.model the plain way with params.train's optimiser, schedule and epochs; return the model of the
    epoch with the best validation accuracy (the project's rule), as its weights after that epoch."""
    tp = params.train
    torch.manual_seed(params.seed)
    model = model_from_params(params.model).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=tp.lr, momentum=tp.momentum, weight_decay=tp.weight_decay,
                                nesterov=tp.nesterov)
    loader = torch.utils.data.DataLoader(PilDataset(subsets["train"], tp), batch_size=tp.batch_size,
                                         shuffle=True, num_workers=workers, persistent_workers=workers > 0,
                                         generator=torch.Generator().manual_seed(params.seed))
    scheduler = lr_schedule(optimizer, tp, len(loader))
    criterion = nn.CrossEntropyLoss(label_smoothing=tp.label_smoothing)
    val = DeviceSplit(subsets["val"], device)
    best_acc, best_state = -1.0, None
    for epoch in range(tp.epochs):
        model.train()
        for images, labels in tqdm(loader, desc=f"plain epoch {epoch + 1}/{tp.epochs}", leave=False, disable=None):
            plain_step(model, optimizer, criterion, images.to(device), labels.to(device))
            scheduler.step()
        _, val_acc = loss_and_accuracy(predict_logits(model, val, params.evaluate.batch_size), val.labels)
        print(f"  plain epoch {epoch + 1}: val acc {val_acc:.3f}", flush=True)
        if val_acc > best_acc:
            best_acc, best_state = val_acc, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return model
