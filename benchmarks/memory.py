"""Peak memory of a full image replay buffer: DQN's, 1e5 transitions of 4x84x84 uint8 frames (RL Zoo's Atari size).

    python benchmarks/memory.py [--transitions 100000] [--optimize-memory-usage | --frame-stack] [--json PATH]

Builds the DQN agent configs/dqn_pong.yaml builds (same observation space, NatureCNN, buffer_size), writes every
row of its replay buffer once (touching every page, as training does), and reports the process's peak resident
memory (ru_maxrss) against the raw size of the observations, transitions x 4 x 84 x 84 bytes; with
--optimize-memory-usage, of a buffer that stores each observation once (the agent's option of that name); with
--frame-stack, of one that stores each frame once (agent.frame_stack 4, what env.frame_stack gives DQN Pong). The
rows come from 100 streams of frame-stacked observations, each one frame on from the last. Memory, unlike time,
does not depend on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

import gymnasium as gym
import numpy as np

from neurenix.rl import DQN

FRAMES = (4, 84, 84)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=100_000)
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument("--optimize-memory-usage", action="store_true")
    storage.add_argument("--frame-stack", action="store_true")
    parser.add_argument(
        "--json", default=None, help="default: benchmarks/results/memory[-optimized|-frames].json"
    )
    args = parser.parse_args()
    observations = gym.spaces.Box(0, 255, FRAMES, np.uint8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    agent = DQN(
        observations,
        gym.spaces.Discrete(6),
        buffer_size=args.transitions,
        encoder="nature_cnn",
        optimize_memory_usage=args.optimize_memory_usage,
        frame_stack=FRAMES[0] if args.frame_stack else 1,
    )
    rng = np.random.default_rng(0)
    batch = 100
    stacks = rng.integers(0, 256, (batch, *FRAMES), dtype=np.uint8)
    for _ in range(args.transitions // batch):
        new_frames = rng.integers(0, 256, (batch, 1, *FRAMES[1:]), dtype=np.uint8)
        following = np.concatenate([stacks[:, 1:], new_frames], axis=1)
        agent.buffer.add(
            stacks, np.zeros(batch, np.int64), np.zeros(batch, np.float32), following, np.zeros(batch, bool)
        )
        stacks = following
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    raw = args.transitions * int(np.prod(FRAMES))
    result = {
        "transitions": args.transitions,
        "optimize_memory_usage": args.optimize_memory_usage,
        "frame_stack": args.frame_stack,
        "raw_observation_bytes": raw,
        "peak_rss_bytes": peak,
        "buffer_growth_bytes": peak - before,
        "growth_over_raw": (peak - before) / raw,
    }
    print(
        f"replay of {args.transitions:,} transitions of {'x'.join(map(str, FRAMES))} uint8: raw observations "
        f"{raw / 1e9:.2f} GB, process peak {peak / 1e9:.2f} GB ({(peak - before) / 1e9:.2f} GB above the start, "
        f"{(peak - before) / raw:.2f}x raw)"
    )
    name = {
        (False, False): "memory.json",
        (True, False): "memory-optimized.json",
        (False, True): "memory-frames.json",
    }[(args.optimize_memory_usage, args.frame_stack)]
    out = Path(args.json or Path(__file__).parent / "results" / name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
