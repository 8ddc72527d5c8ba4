"""Stage `train`: train model.arch on the train subset, keep the best (by validation accuracy) and last models.

The run itself is `resnet_cifar.engine.run.run_training`, the path every benchmark and test takes too; here, where
`dvc repro` runs it in the project, train.remote_resume can keep its resume state on the project's DVC remote. With
train.nproc > 1 the stage launches itself again under torchrun, as that many data-parallel processes.
"""
import sys
from pathlib import Path

from resnet_cifar import paths
from resnet_cifar.config import load_params
from resnet_cifar.data.dataset import load_split
from resnet_cifar.engine.distributed import launch, process_group, under_launcher
from resnet_cifar.engine.run import RunFiles, run_training
from resnet_cifar.errors import report_user_errors


@report_user_errors
def main() -> None:
    params = load_params()
    if params.train.nproc > 1 and not under_launcher():
        sys.exit(launch(__spec__.name, params.train.nproc, module=True))  # as dvc.yaml runs it
    train, val = load_split(paths.TRAIN_SUBSET), load_split(paths.VAL_SUBSET)
    with process_group(params.train.nproc, params.train.device) as (world, device):
        run_training(params, train, val, RunFiles(), world, device, project=Path.cwd())


if __name__ == "__main__":
    main()
