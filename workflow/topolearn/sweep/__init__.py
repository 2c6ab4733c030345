"""A sweep as the workflow plans it: the validated config and its points (schema, config, points,
expand, mapper_settings), its limits, the sweep table, and how runs become jobs (packing, jobgroups,
jobsize). Light at import, all of it: the workflow imports it while planning."""

from .config import check_config_files, load_config_file, validate_config
from .expand import expand_sweep
from .jobgroups import job_groups, save_groups
from .jobsize import mapper_mem_mb, pack_mem_mb, train_mem_mb, train_runtime
from .limits import LimitError, plan_line
from .mapper_settings import MAPPER_DEFAULTS, SCAN_DEFAULTS, mapper_layers, mapper_params, scan_grid
from .packing import figure_runs, form_batches, form_packs, group_id, pack_key, run_analysis_done, tables_dir
from .points import POINT_DEFAULTS, layer_names, n_layers, normalize_point, run_id, total_updates
from .schedule import snapshot_steps, updates_per_epoch
from .schema import ConfigError
from .table import read_sweep_table, sweep_frame, varied_fields, write_sweep_table

__all__ = ["check_config_files", "load_config_file", "validate_config", "ConfigError", "expand_sweep",
           "POINT_DEFAULTS", "layer_names", "n_layers", "normalize_point", "run_id", "total_updates",
           "MAPPER_DEFAULTS", "SCAN_DEFAULTS", "mapper_layers", "mapper_params", "scan_grid",
           "LimitError", "plan_line", "snapshot_steps", "updates_per_epoch",
           "read_sweep_table", "sweep_frame", "varied_fields", "write_sweep_table",
           "figure_runs", "form_batches", "form_packs", "group_id", "pack_key", "run_analysis_done", "tables_dir",
           "job_groups", "save_groups", "mapper_mem_mb", "pack_mem_mb", "train_mem_mb", "train_runtime"]
