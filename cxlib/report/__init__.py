"""The report pipeline: run the numbered notebooks for a client with papermill
(``runner.run_report``), render pages without code and with the provenance footer (``pages``),
the executive summary (``summary``), the figures and provenance records (``metrics``,
``provenance``), every client at once (``batch.run_batch``), and the checks of a finished report:
its content (``content``) and its behaviour in a headless browser (``browser``)."""
