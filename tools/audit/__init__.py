"""The audit family: ``audit_log`` (verify and show the trail) and ``audit_report`` (the trail as a report).

The trail itself (records, hash chain, head) is :mod:`tools.core.audit_log`, below every tool.
"""
