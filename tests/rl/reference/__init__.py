"""An independent float64 reference for the off-policy updates: numpy only, every gradient written by hand.

Written from the papers (Lillicrap et al. 2016; Fujimoto et al. 2018; Haarnoja et al. 2018, "SAC: Algorithms and
Applications") and SB3's documented equations, not from our code, so that a twin test can name the first
quantity where our update leaves the textbook one.
"""
