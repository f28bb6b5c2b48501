"""Floor 4, what is quantized and what it costs: the fake quantizers (``quantizers``), the one BitOPs and size
counter (``cost``), the policy file (``policy``), BatchNorm save / re-estimate (``batchnorm``), model checkpoints
(``checkpoints``) and a quantized model from a checkpoint and a policy (``loading``)."""
