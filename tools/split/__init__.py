"""The split family: ``split_dataset``, a deterministic split that keeps near-duplicates together."""
