"""The bottom layer: small helpers every other layer may use (devices, determinism, progress, distributed runs,
peak memory, JSON documents). Nothing here imports another part of art-bmtad."""
