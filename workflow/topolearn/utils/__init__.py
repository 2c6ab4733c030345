"""topolearn.utils."""
