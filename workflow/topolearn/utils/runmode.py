"""Whether the Snakemake that parses the workflow will run jobs: work on disk at parse time (moving
stores aside) belongs to such a run only, never to a dry run or to a command that only inspects.

Snakemake 9 knows `-n` at parse time (`workflow.output_settings.dryrun`; `workflow.dryrun` is
still False then: the executor is chosen after parsing). The inspecting modes (--touch, --dag,
--summary, --unlock, ...) are read from the command line with Snakemake's own parser, so
abbreviations and combined short flags count as Snakemake counts them.
"""

# Snakemake options after which no job runs (argparse dest names, as in snakemake.cli).
INSPECTING = (
    "dryrun", "touch", "dag", "rulegraph", "filegraph", "d3dag", "summary", "detailed_summary",
    "list_changes", "list_input_changes", "list_params_changes", "list_untracked", "list_rules",
    "list_target_rules", "lint", "unlock", "cleanup_metadata", "cleanup_shadow", "conda_create_envs_only",
    "conda_cleanup_envs", "list_conda_envs", "container_cleanup_images", "containerize",
    "generate_unit_tests", "archive", "delete_all_output", "delete_temp_output", "print_compilation",
    "export_cwl", "report",
)


def inspecting_argv(argv: list[str]) -> bool:
    """Whether a Snakemake command line (sys.argv) asks for a mode that runs no job."""
    from snakemake.cli import get_argument_parser  # only where Snakemake itself runs

    try:
        args, _ = get_argument_parser().parse_known_args(list(argv[1:]))
    except (SystemExit, Exception):  # not Snakemake's command line (the API, a test): judge by the flag
        return False
    if getattr(args, "report", None) and getattr(args, "report_after_run", False):
        return False  # --report-after-run: the jobs run first
    return any(getattr(args, name, None) for name in INSPECTING)


def runs_jobs(workflow, argv: list[str]) -> bool:
    """True in the main process of a Snakemake that will run jobs; False in a dry run, an
    inspecting mode, or a job's own Snakemake (it must leave the disk to the main process)."""
    if not workflow.is_main_process or getattr(workflow.output_settings, "dryrun", False):
        return False
    return not inspecting_argv(argv)
