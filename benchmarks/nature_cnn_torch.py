"""The torch side of benchmarks/engine.py's NatureCNN row: SB3's own NatureCNN, forward and backward, timed.

    PEER_PYTHON benchmarks/nature_cnn_torch.py [--rounds N] [--batch 32]  ->  one JSON line: torch_ms, threads

Run in an interpreter that has SB3 with torch (benchmarks/speed.py says how to make one; never a dependency of
Neurenix). The same computation as the engine's side: 4 stacked 84x84 frames in [0, 1) (SB3 scales uint8 by
1/255 before the network, as Neurenix does inside it), SB3's `NatureCNN` up to its 512 features, the mean of
their squares as the loss, backward into every parameter's gradient, on torch's default CPU threads (one per
core). The median over `--rounds` after warm-up rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import NatureCNN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    net = NatureCNN(space, features_dim=512)
    frames = torch.as_tensor(
        np.random.default_rng(1).uniform(0.0, 1.0, (args.batch, 4, 84, 84)).astype(np.float32)
    )

    def step() -> None:
        net.zero_grad(set_to_none=False)
        features = net(frames)
        (features * features).mean().backward()

    for _ in range(3):
        step()
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"torch_ms": statistics.median(times), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
