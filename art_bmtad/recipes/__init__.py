"""Recipes: the run's configuration (:mod:`.recipe`), its presets, teacher descriptions and defence options."""
