"""Device engine: ingest, index, retrieval, answers, embeddings (imports stay lazy)."""
