"""The decide family: the checklist's answers (``record_answers``) and ``decide_fit``, the verdict on whether
to fine-tune at all.
"""
