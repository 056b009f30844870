"""Bilateral hemisphere controllers (flax) trained through the differentiable arm.

Not built yet: see the issue "Bilateral hemisphere controllers".
"""
