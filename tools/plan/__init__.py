"""The training plan every trainer and provider job is built from (:mod:`.training_plan`) and the arithmetic
the planning tools share (:mod:`.plan_math`).
"""
