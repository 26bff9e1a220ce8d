"""Independent float64 references for the twin tests of DQN, A2C and PPO: networks, optimizers and updates written
by hand from the papers and SB3's documented semantics, taking parameters and data as plain arrays."""
