"""The diagnose family: ``diagnose_loss`` and its parts: log readers (:mod:`.logs`, :mod:`.text_logs`,
:mod:`.tb_events`), clean series, checks, the plot and the report.
"""
