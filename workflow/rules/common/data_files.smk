# The data files a run's training job reads, so Snakemake fetches them first (rule fetch_data).
from topolearn.data import dataset_files

FETCHABLE = ("mnist", "fashion-mnist", "kmnist")  # IDX datasets fetch_data downloads
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


wildcard_constraints:
    dataset="|".join(FETCHABLE),


def run_dataset_files(run_id):
    """Data files of a run's training job: the IDX files fetch_data can download, a declared
    dataset's files, none for the embedded digits and the generated toy data."""
    ds = POINTS[run_id]["dataset"]
    if ds in FETCHABLE:
        return [f"{CFG['data_root']}/{ds}/{f}" for f in IDX_FILES]
    if REGISTRY[ds].format is None:
        return []
    return [str(f) for f in dataset_files(ds, CFG["data_root"], REGISTRY)]


def train_data_inputs(run_id):
    """A training job's data inputs, judged by content, not mtime: an interrupted or `touch`ed copy
    must not make Snakemake delete finished stores. startup.smk compares the files' sha256 with
    those each store recorded (topolearn.store.datacheck) and retrains what really changed."""
    return [ancient(f) for f in run_dataset_files(run_id)]
