"""The models: the e5 pack materialized offline, the embedder, the trained reader and its training."""
