"""Floor 8, grids of experiments: a typed grid config (``config``), one cell read top to bottom (``cell``: search,
transfer, measure, write), the null baselines (``null_policies``), the selected reference and @selected arms
(``reference``), who runs the cells (``executors``), the merge of finished cells into one table (``merge``),
re-measuring committed cells (``remeasure``), canned grids (``presets``), paired statistics and group-sequential
bounds (``stats``, ``group_sequential``), the Markdown report with every verdict (``report/``), and one-off
studies that call the library (``studies/``)."""
