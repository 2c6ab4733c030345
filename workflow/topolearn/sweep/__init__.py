"""topolearn.sweep."""
