"""The configure family: ``configure_training`` (hyperparameters with reasons, a memory estimate) and the
files it writes for each trainer or provider (:mod:`tools.configure.exports`, :mod:`tools.configure.files`).
"""
