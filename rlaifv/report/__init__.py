"""The run report: `plots` draws one PNG per figure from plain data, `html` assembles an escaped
page around them. Reading a run directory and generating the gallery answers lives in
`pipelines/report.py`, so this package stays free of run-layout knowledge."""
