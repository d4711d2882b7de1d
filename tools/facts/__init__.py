"""The facts family: ``facts_check`` (which facts have aged or ended), the refresh proposal from maintained
machine-readable sources, the generated tables, and ``read_reference`` for agents.
"""
