# The Snakemake report: which figures enter it, in which format, under which titles.
from topolearn.sweep.table import varied_fields


def report_format():
    """The format figures enter the report in: png, else svg, else pdf."""
    return next(f for f in ("png", "svg", "pdf") if f in CFG["figures"]["formats"])


def for_report(paths, **kw):
    """Flag each figure's report format for the report, with its caption."""
    out, report_fmt = [], report_format()
    for path in paths:
        name, fmt = Path(path).name.rsplit(".", 1)
        if fmt == report_fmt:  # caption paths are relative to workflow/rules/, where the rules are
            path = report(path, caption=f"../report/{name}.rst", labels={"figure": name.replace("_", " ")}, **kw)
        out.append(path)
    return out


def run_figures_output(run_id):
    """A run's figure folder, entered into the report figure by figure (pattern {name}.{format})."""
    return report(
        directory(run_figures_dir(run_id)),
        patterns=[f"{{name}}.{report_format()}"],
        caption="../report/run_figures.rst",
        category="Runs",
        subcategory=run_title(run_id),
        labels=figure_label,
    )


def figure_label(wildcards):
    """Report label of a figure found by the pattern {name}.{format} in a figure directory."""
    return {"figure": wildcards.name.replace("_", " ")}


VARIED_FIELDS = varied_fields(POINTS.values())


def run_title(run_id):
    """Report subcategory of a run: its id and the swept values that set it apart."""
    p = POINTS[run_id]
    varied = [k for k in VARIED_FIELDS if k in p]
    return run_id + (" (" + ", ".join(f"{k}={p[k]}" for k in varied) + ")" if varied else "")


def run_title_wc(wildcards):
    return run_title(wildcards.run_id)
