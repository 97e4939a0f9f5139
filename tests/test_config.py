"""Config loading: defaults, YAML + flag layering, and clear errors naming keys."""

import pytest

from energybench.config import FIELDS, load_yaml
from energybench.engine.preflight import make_config
from energybench.errors import UserError
from energybench.methods import check_methods


def test_defaults_are_the_quick_digits_benchmark():
    cfg = make_config()
    assert cfg.dataset == "digits" and cfg.resolved_backbone() == "tiny_cnn"
    assert cfg.scenario == "B4-3x2" and cfg.sharing == [0.0, 0.5, 0.8] and cfg.seeds == [0]  # a sharing sweep
    assert cfg.idle_seconds is None  # the power monitor's default baseline, where a sensor exists


def test_idle_seconds_reads_as_seconds(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("idle_seconds: 5\n")
    assert make_config(load_yaml(p)).idle_seconds == 5.0
    assert make_config({"idle_seconds": "0"}).idle_seconds == 0.0  # off


def test_mapper_from_yaml_in_any_case(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("mapper: ZigZag\n")
    assert make_config(load_yaml(p)).mapper == "zigzag" and make_config().mapper == "analytic"


def test_flags_override_yaml_and_lists_parse(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("dataset: fashion-mnist\nmethod: joint\nsharing: [0, 0.5]\nseed: 3\nepochs: 4\n")
    cfg = make_config(load_yaml(p), {"epochs": "2", "sharing": "0,0.25,0.8"})
    assert cfg.methods == ["joint"] and cfg.seeds == [3]
    assert cfg.epochs == 2 and cfg.sharing == [0.0, 0.25, 0.8]
    assert cfg.resolved_backbone() == "resnet20"


def test_unknown_key_names_it_and_the_valid_keys():
    with pytest.raises(UserError) as err:
        make_config({"epoch": 3})
    msg = str(err.value)
    assert "unknown config key 'epoch' (did you mean 'epochs'?)" in msg
    assert all(k in msg for k in ("epochs", "batch_size", "sharing"))
    assert len(FIELDS) > 30


@pytest.mark.parametrize("layer,msg", [
    ({"epochs": "many"}, "'epochs' must be an integer"),
    ({"epochs": 0}, "'epochs': must be at least 1"),
    ({"sharing": 1.0}, "in \\[0, 1\\), got 1.0"),
    ({"sharing": "-0.1"}, "in \\[0, 1\\), got -0.1"),
    ({"sharing": "0,0.5,0.5"}, "levels repeat"),
    ({"methods": "joint,nope"}, "unknown method 'nope'; valid methods: finetune, joint"),
    ({"dataset": "svhn"}, "unknown dataset 'svhn'"),
    ({"backbone": "alexnet"}, "unknown backbone 'alexnet' \\(did you mean 'lenet'\\?\\); valid backbones: tiny_cnn"),
    ({"precision": "fp8"}, "unknown precision 'fp8'; valid precisions: fp32"),
    ({"device": "tpu"}, "unknown device 'tpu'.*; valid devices: auto, cpu, cuda, or cuda:N"),
    ({"augment": "maybe"}, "'augment' must be true or false"),
    ({"options": {"joint": {"lambda": 1}}}, "unknown option 'lambda' for method joint"),
    ({"lr_milestones": [0.5, 2]}, "fractions of the epochs"),
    ({"report_formats": "html,docx"}, "unknown report format 'docx'; valid report formats: html, pdf"),
    ({"classes": "n01,n02"}, "imagefolder dataset only, not 'digits'"),
    ({"idle_seconds": -1}, "'idle_seconds': must be 0 \\(no idle baseline\\) or a finite number of seconds, got -1.0"),
    ({"idle_seconds": "inf"}, "'idle_seconds' must be a finite number, got 'inf'"),
    ({"idle_seconds": "soon"}, "'idle_seconds' must be a number, got 'soon'"),
    ({"power_rate_hz": "nan"}, "'power_rate_hz' must be a finite number, got 'nan'"),
    ({"mapper": "timeloop"}, "config key 'mapper': unknown mapper 'timeloop'; valid mappers: analytic, zigzag"),
])
def test_bad_values(layer, msg):
    with pytest.raises(UserError, match=msg):
        cfg = make_config(layer)
        check_methods(cfg.methods, cfg.options)  # methods and their options: one call, before a run starts


def test_yaml_problems(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_yaml(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="must be a mapping"):
        load_yaml(listy)
    for text in ("", "# only a comment\n"):  # a typo'd file name must not start the full default run
        empty = tmp_path / "empty.yaml"
        empty.write_text(text)
        with pytest.raises(UserError, match=r"empty.yaml holds no keys \(it is empty or only comments\)"):
            load_yaml(empty)


def test_every_precision_the_cost_model_prices_is_a_run_precision():
    """`cost` and `energy-table` take int32 (horowitz45 prices it); so does a run."""
    from energybench.config import PRECISIONS
    from energybench.cost.tables import load_energy_table

    assert set(PRECISIONS) == set(load_energy_table().precisions) == set(load_energy_table("aladdin45").precisions)
    assert make_config({"precision": "INT32"}).precision == "int32"


def test_the_bounds_themselves_are_valid_and_one_past_them_is_not(tmp_path, monkeypatch):
    """The documented bounds (README, Reliability) are inclusive: a run may use them exactly."""
    from energybench import config
    from energybench.config import BOUNDS

    monkeypatch.setattr(config, "max_workers", lambda: 3)  # a 3-CPU machine
    at = make_config({"epochs": 10_000, "batch_size": 65_536, "width": 16, "idle_seconds": 3600, "threads": 4096,
                      "power_rate_hz": 1000, "workers": 3, "dataset": "imagefolder", "data_root": str(tmp_path),
                      "image_size": 1024})
    assert (at.epochs, at.batch_size, at.width, at.idle_seconds, at.threads, at.workers, at.image_size) == \
        (10_000, 65_536, 16.0, 3600.0, 4096, 3, 1024)
    assert BOUNDS == {"epochs": 10_000, "batch_size": 65_536, "width": 16.0,
                      "image_size": 1024, "idle_seconds": 3600.0, "threads": 4096,
                      "power_rate_hz": 1000.0}
    for key, past in (("epochs", 10_001), ("batch_size", 65_537), ("width", 16.000001), ("idle_seconds", 3600.5),
                      ("threads", 4097), ("power_rate_hz", 1000.5), ("workers", 4)):
        with pytest.raises(UserError, match=f"config key '{key}': at most"):
            make_config({key: past})


def test_list_items_left_empty_are_refused_but_an_empty_list_is_empty():
    with pytest.raises(UserError, match=r"config key 'seeds': item 3 of '0,1,' is empty"):
        make_config({"seeds": "0,1,"})
    with pytest.raises(UserError, match="config key 'sharing': the list is empty"):
        make_config({"sharing": ""})
    assert make_config({"sharing": " 0 , 0.5 "}).sharing == [0.0, 0.5]  # spaces around items are fine


def test_ray_resources_need_the_ray_executor_but_a_recorded_local_config_resumes(monkeypatch):
    """A local run records gpus_per_cell: null and cpus_per_cell: 1.0; reading it back is no request."""
    from energybench.engine import ray_options

    assert make_config({"executor": "local", "gpus_per_cell": None, "cpus_per_cell": 1.0}).executor == "local"
    monkeypatch.setattr(ray_options, "machine_gpus", lambda: 1)  # (a machine with a GPU: half of it is there)
    assert make_config({"workers": 1, "gpus_per_cell": 0.5}).executor == "ray"
    monkeypatch.setattr(ray_options, "machine_gpus", lambda: 0)
    with pytest.raises(UserError, match=r"'gpus_per_cell': 0.5 asks for more GPUs than this machine has \(0\)"):
        make_config({"workers": 1, "gpus_per_cell": 0.5})
    with pytest.raises(UserError, match="'cpus_per_cell': 2 is a Ray resource request"):
        make_config({"cpus_per_cell": 2})


def test_workers_with_the_local_executor_is_an_error_and_workers_alone_means_ray(tmp_path, capsys):
    """--workers N alone picks Ray (its help says so); asked for with --executor local, it is refused, not switched."""
    from energybench.cli import main

    assert make_config({"workers": 1}).executor == "ray"
    assert main(["run", "--executor", "local", "--workers", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--workers: applies to the ray executor only; leave out executor: local (or --executor local)" \
        in err
    assert not any(tmp_path.iterdir())
