"""Independent float64 references for the twin tests: numpy only, every gradient written by hand.

Written from the papers (Mnih et al. 2015 and 2016; van Hasselt et al. 2016; Wang et al. 2016; Schulman et al.
2016 and 2017; Lillicrap et al. 2016; Fujimoto et al. 2018; Haarnoja et al. 2018, "SAC: Algorithms and
Applications") and SB3's documented semantics, not from our code, so that a twin test can name the first
quantity where our update leaves the textbook one. `mlp` holds the networks and Adam of the off-policy
references, `nets` those of DQN, A2C and PPO (tanh or ReLU trunks, RMSprop, joint clipping).
"""
