"""Floor 5 (beside ``analysis``), training a model: the training loop and evaluation (``train``), the fine-tune of
a transferred policy (``transfer``: weights only, the bits fixed) and a policy scored where its transfer starts,
before any weight moves (``scoring``)."""
