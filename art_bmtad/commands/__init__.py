"""Sub-commands of the ``art-bmtad`` CLI, one module each (``add_parser`` + ``run``)."""
