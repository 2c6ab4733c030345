"""topolearn.train: train sweep points into snapshot stores (the store contract: topolearn.store.snapshots).

One training loop (`loop`): a pack of networks with equal pack_key, stacked into one batched
computation (`stacked`), each recording its snapshots (`evaluation`) into its own store, with
checkpoints and resume (`checkpoints`) on a fixed device context (`device`); one network is a pack
of one. `models` builds and initialises each network; `representations` records toy runs' layers.
"""

from .checkpoints import CHECKPOINT, PARTIAL_STORE
from .device import resolve_device, symmetry_context
from .evaluation import EVAL_SEED, score
from .loop import train_pack, train_run
from .models import build_cnn, build_model, conv_layers, init_model, model_for_point, weight_layers
from .representations import input_grid, record, record_finished
from .stacked import StackedNet, StackedOptimizer, make_optimizer, packed_update
from .trainset import epoch_order, load_train_data

__all__ = [
    "CHECKPOINT", "EVAL_SEED", "PARTIAL_STORE", "StackedNet", "StackedOptimizer", "build_cnn", "build_model",
    "conv_layers", "epoch_order",
    "init_model", "input_grid", "load_train_data", "make_optimizer", "model_for_point", "packed_update", "record",
    "record_finished", "resolve_device", "score", "symmetry_context", "train_pack", "train_run", "weight_layers",
]
