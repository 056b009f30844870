"""Per-layer features of audio/video models for brain encoding (optional extra: pip install -e ".[features]")."""
