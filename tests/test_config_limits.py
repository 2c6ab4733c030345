"""Configs that plan nonsense are refused (or warned about) with one line before any job: output
paths, huge points, endless training, huge sweeps and duplicate YAML keys."""

import os

import pytest

from topolearn.sweep.schema import ConfigError
from topolearn.sweep.config import check_config_files, load_config_file, validate_config
from topolearn.sweep.limits import count_points, plan_line


def refused(cfg) -> str:
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# ---------------------------------------------------------------- paths


def test_an_empty_results_path_is_refused():
    assert refused({"results": ""}) == "results: '' is invalid; must name a folder (e.g. results)"
    assert "data_root: '  ' is invalid" in refused({"data_root": "  "})


def test_results_naming_an_existing_file_is_refused(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    assert "it is an existing file, not a folder" in refused({"results": str(f)})
    assert validate_config({"results": str(tmp_path)})["results"] == str(tmp_path)  # a folder is fine


def test_a_tilde_is_expanded_to_the_home_folder():
    cfg = validate_config({"results": "~/tl-results", "data_root": "~/data"})
    assert cfg["results"] == os.path.join(os.path.expanduser("~"), "tl-results")
    assert not cfg["data_root"].startswith("~")
    assert "unknown user in ~" in refused({"results": "~no_such_user_xyz/r"})


@pytest.mark.parametrize("root", ["/", "//", "/.", "///", "/tmp/..", "~/" + "../" * 40])
def test_a_filesystem_root_is_refused_however_written(root):
    for key in ("results", "data_root"):
        assert refused({key: root}) == (f"{key}: {root!r} is invalid; it is the filesystem root /: must name a "
                                        "folder below it (e.g. results)")


def test_figure_resolution_is_bounded_naming_the_range():
    assert refused({"figures": {"dpi": 100000}}) == ("figures.dpi: 100000 is invalid; must be <= 1000 "
                                                     "(allowed: 50..1000)")
    assert validate_config({"figures": {"dpi": 1000}})["figures"]["dpi"] == 1000


def test_effective_width_derived_points_are_held_to_the_point_limits():
    cfg = {"sweep": {"base": {"width": 8, "epochs": 2, "snapshots": 3}},
           "effective_width": {"enabled": True, "factors": [1.0e+9]}}
    msg = refused(cfg)
    assert msg.startswith("effective_width.factors: 1e+09 x width 8 plans width 8000000000 for derived runs of run ")
    assert "over limits.max_point_gb = 8" in msg
    cfg["effective_width"]["enabled"] = False  # no test, no derived points
    validate_config(cfg)
    cfg["effective_width"] = {"enabled": True, "factors": [0.5, 1, 2]}
    validate_config(cfg)
    cfg["effective_width"]["factors"] = [2e6]  # width 1.6e7: within memory, a limit lowered refuses it
    assert "over limits.max_point_gb = 1" in refused({**cfg, "limits": {"max_point_gb": 1}})


# ---------------------------------------------------------------- one point's size and length


def test_a_point_too_big_for_memory_is_refused_naming_estimate_and_limit():
    msg = refused({"sweep": {"base": {"width": 1e9}}})
    assert msg.startswith("run ") and "width 1000000000" in msg
    assert "GB (store" in msg and "limits.max_point_gb = 8" in msg


def test_the_point_size_limit_is_configurable():
    wide = {"sweep": {"base": {"width": 20000, "snapshots": 101, "epochs": 10}}}  # 4e8 params x 101 x 4 B
    assert "limits.max_point_gb = 8" in refused(wide)
    assert validate_config({**wide, "limits": {"max_point_gb": 1000}})["plan"]["max_point_gb"] > 8


def test_endless_training_is_refused():
    msg = refused({"sweep": {"base": {"epochs": 1e9}}})
    assert "epochs 1000000000" in msg and "15,000,000,000 training updates" in msg
    assert "core-hours" in msg and "limits.max_point_updates = 100,000,000" in msg
    ok = validate_config({"sweep": {"base": {"epochs": 1e6}}, "limits": {"max_point_updates": 2e7}})
    assert ok["plan"]["updates"] == 15_000_000


def test_the_plan_line_names_points_updates_and_core_hours():
    cfg = validate_config({"sweep": {"grid": {"lr": [0.01, 0.1], "seed": [1, 2, 3]}}})
    line = plan_line(cfg["plan"])
    assert line.startswith("topolearn: sweep of 6 points, ~6,300 training updates, est. ") and "core-hours" in line


# ---------------------------------------------------------------- sweep size


def test_points_are_counted_without_expanding_the_grid():
    sweep = {"grid": {"seed": list(range(1000)), "lr": [0.1] * 1000, "depth": 3}, "points": [{}, {}]}
    assert count_points(sweep) == (1_000_002, "1000 x 1000 x 1 grid + 2 explicit")


def test_a_huge_sweep_is_refused_at_once_with_how_to_raise_the_cap():
    huge = {"sweep": {"grid": {"seed": list(range(10_000)), "lr": [0.01 * i for i in range(1, 10_001)]}}}
    msg = refused(huge)  # 10^8 points: refused from the count (expanding them would exhaust memory)
    assert msg.startswith("sweep: 100,000,000 points (10000 x 10000 grid + 0 explicit)")
    assert "limits.max_points = 20,000" in msg and "max_points: 100000000" in msg


def test_the_sweep_cap_is_configurable():
    grid = {"sweep": {"grid": {"seed": list(range(30))}}}
    assert "limits.max_points = 20" in refused({**grid, "limits": {"max_points": 20}})
    assert len(validate_config({**grid, "limits": {"max_points": 30}})["points"]) == 30


@pytest.mark.parametrize("limits, allowed", [
    ({"max_points": 0}, "must be >= 1"),
    ({"max_point_gb": 0}, "must be > 0"),
    ({"max_point_updates": "many"}, "must be of type integer"),
    ({"max_ponts": 3}, "allowed keys: max_point_gb, max_point_updates, max_points"),
])
def test_bad_limits_are_refused(limits, allowed):
    assert allowed in refused({"limits": limits})


def test_verify_takes_quick_or_full():
    assert validate_config({})["verify"] == "quick" and validate_config({"verify": "full"})["verify"] == "full"
    assert "allowed: quick, full" in refused({"verify": "deep"})


# ---------------------------------------------------------------- duplicate keys


def test_a_duplicate_yaml_key_is_refused_naming_file_key_and_lines(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("results: r1\nsweep:\n  base:\n    lr: 0.1\n    depth: 1\n    lr: 0.5\n")
    with pytest.raises(ConfigError, match=r"c.yaml: duplicate key 'lr' \(lines 4 and 6\)"):
        load_config_file(f)
    good = tmp_path / "ok.yaml"
    good.write_text("results: r1\n")
    check_config_files([good])
    with pytest.raises(ConfigError, match="c.yaml: duplicate key 'lr'"):
        check_config_files([good, f])
    f.write_text("results: r1\nsweep:\n  base:\n    lr: 0.1\n  grid:\n    lr: [0.1, 0.2]\n")  # same key, other maps
    assert len(load_config_file(f)["points"]) == 2


def test_yaml_anchors_and_merge_keys_still_load(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("sweep:\n  base: &b {lr: 0.1, depth: 1}\n  points:\n    - <<: *b\n      seed: 3\n")
    assert [p["seed"] for p in load_config_file(f)["points"].values()] == [42, 3]
