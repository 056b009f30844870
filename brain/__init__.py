"""Voxel-wise encoding models of fMRI responses to multimodal model features.

Not built yet: see the issue "Voxel-wise encoding pipeline".
"""
