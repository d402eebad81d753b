//! prune: drop unused tensors, buffers and operator codes; deduplicate buffers.
