"""topolearn.layers."""
