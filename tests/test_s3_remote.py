"""The team workflows of test_sharing.py through an S3 remote: moto's S3 server on a loopback port stands in for
AWS, MinIO or Ceph, with dummy credentials and no AWS setting of this machine in reach."""
from pathlib import Path

import pytest
import yaml

from browser import skip_unless_installed
from project import ran_stages, run, set_params
from s3_server import PREFIX, S3Server, isolate_from_real_aws, moto_installed, s3_server, use_s3_remote
from sharing import assert_same_results, clone, dvc_status, locked_md5, output_files, stored_file

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    skip_unless_installed(moto_installed(), 'moto\'s server is not installed (pip install -e ".[dev]")')
    folder = tmp_path_factory.mktemp("s3")
    with pytest.MonkeyPatch.context() as patch:
        isolate_from_real_aws(patch, folder)
        with s3_server(folder) as server:
            yield server


def on_s3(s3: S3Server, bucket: str, md5: str) -> bool:
    """Whether the remote in `bucket` holds the file with this MD5, where DVC 3 puts it."""
    return s3.has_object(bucket, stored_file(Path(PREFIX), md5).as_posix())


def test_push_and_pull_through_an_s3_server(origin, s3, home):
    s3.create_bucket("results")
    use_s3_remote(origin, s3, "results")
    try:
        run(origin, "dvc", "push")
        assert dvc_status(origin, "--cloud") == {}
    finally:
        (origin / ".dvc/config.local").unlink(missing_ok=True)
    assert on_s3(s3, "results", locked_md5(origin, "models/best.pt"))
    assert not (home / "resnet-cifar-dvc-storage").exists()  # nothing went to the default remote instead
    mate = clone(origin, "teammate-s3")
    use_s3_remote(mate, s3, "results")
    run(mate, "dvc", "pull")
    assert_same_results(mate, origin)


def test_experiment_is_pushed_and_pulled_through_an_s3_server(own_origin, s3, home):
    origin = own_origin
    s3.create_bucket("experiments")
    use_s3_remote(origin, s3, "experiments")
    set_params(origin, plot={"dpi": 80})
    assert ran_stages(run(origin, "dvc", "repro").stdout) == ["plot"]
    run(origin, "dvc", "exp", "save", "-n", "dpi-80")
    saved, figure_md5 = output_files(origin), locked_md5(origin, "plots/history.png")
    # The experiment's commit names the default remote; .dvc/config.local, on top, sends its data to S3.
    run(origin, "dvc", "exp", "push", "origin", "dpi-80")
    assert on_s3(s3, "experiments", figure_md5)
    assert not (home / "resnet-cifar-dvc-storage").exists()

    mate = clone(origin, "teammate-s3-exp")
    use_s3_remote(mate, s3, "experiments")
    run(mate, "dvc", "exp", "pull", "origin", "dpi-80")
    run(mate, "dvc", "exp", "apply", "dpi-80")
    assert yaml.safe_load((mate / "params.yaml").read_text())["plot"]["dpi"] == 80
    assert output_files(mate) == saved
    assert dvc_status(mate) == {}
