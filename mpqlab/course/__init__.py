"""Floor 9, the course: the notebooks' shared helpers (``notebooks``: live explorers, smoke / full parameters, the
printed findings), the static site (``book``) and the main job on the embedded default (``quickstart``)."""
