"""The bottom layer: the registry and tool contract, errors, path fields, the workspace policy, progress,
shipped resources, tool schemas and the audit trail. Nothing here imports another ``tools`` package.
"""
