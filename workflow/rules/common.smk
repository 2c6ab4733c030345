# What the rule files share, one concern per file under common/; no rules there, and no work on
# disk except in startup.smk and the job group record (jobs.smk). Input functions only read.
include: "common/config.smk"
include: "common/paths.smk"
include: "common/data_files.smk"
include: "common/startup.smk"
include: "common/jobs.smk"
include: "common/report.smk"
include: "common/effective_width.smk"
include: "common/progress.smk"
