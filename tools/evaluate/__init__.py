"""The evaluate family: ``run_eval`` (fine-tuned vs base, paired statistics) and its parts: systems to compare,
generation, per-sample metrics, statistics, probes, the judge and the report.
"""
