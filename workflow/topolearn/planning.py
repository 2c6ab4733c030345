"""Make Snakemake's planning of a large sweep cheaper; applied by common.smk while the workflow parses.

Both tweaks change how much work planning does, never what it decides: the same jobs, the same errors.
"""
import gc


def tune_gc() -> None:
    """Snakemake builds a large sweep's DAG from millions of small objects, and Python's default
    collector thresholds (700, 10, 10) rescan them over and over: fewer collections make a
    1,000-point dry run ~3 % cheaper. Cycles are still collected; jobs run in their own processes."""
    gc.set_threshold(100_000, 50, 100)


def check_scripts_once_per_rule() -> bool:
    """Check each rule's `script:` once, not once per job. Whether this was applied.

    Snakemake 9 checks that a job's script can be read for every job it plans
    (snakemake.dag.ScriptProcessor): three source-cache lookups, each of which parses the path as a
    URI (smart_open builds a namedtuple class per call). That is 18 % of the instructions of a
    1,000-point dry run. A script path without wildcards or params ("{") names the same file for
    every job of its rule, so the first job's check answers for all of them; a failing check still
    raises for that first job. Other paths are checked per job as before. Written for the Snakemake
    pinned in requirements.txt; where snakemake.dag has no ScriptProcessor.process_job, it changes
    nothing.
    """
    try:
        import snakemake.api  # noqa: F401 (snakemake.dag only imports after it)
        from snakemake.dag import ScriptProcessor
    except ImportError:
        return False
    check = ScriptProcessor.__dict__.get("process_job")
    if check is None or getattr(check, "once_per_rule", False):
        return check is not None

    def process_job(self, job) -> None:
        path = getattr(job.rule, self.script_type, None)
        if path is None or "{" in str(path):
            return check(self, job)
        checked = self.__dict__.setdefault("_rules_checked", set())
        if job.rule.name not in checked:
            check(self, job)
            checked.add(job.rule.name)

    process_job.once_per_rule = True
    process_job.__doc__ = check.__doc__
    ScriptProcessor.process_job = process_job
    return True
