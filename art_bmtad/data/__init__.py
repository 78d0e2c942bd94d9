"""Datasets: the catalogue of known datasets (:mod:`.catalog`, light) and loading them (:mod:`.datasets`)."""
