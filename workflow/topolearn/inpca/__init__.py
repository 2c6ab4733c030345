"""topolearn.inpca."""
