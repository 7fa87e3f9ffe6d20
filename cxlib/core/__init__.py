"""The core every section builds on: the data contract (``schema``), client configuration
(``config``, with ``DEFAULT_SEED``), the run folder's files (``paths``), privacy, intervals
(``uncertainty``), how numbers read (``formatting``), time (``dates``) and JSON files (``jsonio``).
Nothing here imports from a section."""
