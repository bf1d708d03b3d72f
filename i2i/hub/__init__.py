"""What comes from elsewhere: the catalog of reference data sets and weights, resumable downloads with
safe unpacking, and the lookup of the offline feature-network weights (VGG, AlexNet, Inception).
Imports only the shared modules.
"""
