"""mpqlab: a research kit for generalizable mixed-precision quantization (ASGA and its baselines).

Layering (each module imports only from the floors below it):

1. ``errors``, ``io``, ``data``, ``models``, ``quant``, ``sharpness``, ``viz``   (leaves)
2. ``cost``, ``train``
3. ``policy``
4. ``transfer``, ``analysis``
5. ``search``
6. ``experiment`` (a grid's config, cells, merge), then ``grid`` (who runs the cells: local workers, submitit)
7. ``cli``
"""

__version__ = "0.1.0"
