"""`neurenix eval RUN_DIR --video DIR`: the evaluation env, wrapped in gymnasium's RecordVideo.

RecordVideo encodes with moviepy, and gymnasium's classic-control envs (CartPole, Pendulum) draw their frames
with pygame: the [video] extra installs both. One mp4 per evaluated episode: DIR/eval-episode-<i>.mp4.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neurenix.errors import ConfigError
from neurenix_cli.extras import MissingExtraError, install_hint, require

NAME_PREFIX = "eval"


class VideoError(ConfigError):
    """The run's env cannot be recorded (it draws no rgb_array frames): a usage error, exit 2."""


def recording_env(
    env_id: str, kwargs: dict, video_dir: str | os.PathLike, episodes: int, wrappers: Sequence[Any] = ()
) -> Any:
    """One env, wrapped by the config's `wrappers`, that records its first `episodes` episodes into `video_dir`.

    Only the first `episodes` are recorded: the evaluation loop resets the env once more after the last
    episode, and that reset would otherwise leave a one-frame video behind.
    """
    import gymnasium

    # Frames are drawn off-screen: without this, pygame's SDL looks for a display (and complains on servers).
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    kwargs = {**kwargs, "render_mode": "rgb_array"}
    try:
        env = gymnasium.make(env_id, disable_env_checker=True, **kwargs)
    except (gymnasium.error.Error, TypeError) as exc:
        raise VideoError(
            f"{env_id} cannot be made to render rgb_array frames ({exc}), so --video cannot record it. "
            "Evaluate without --video."
        ) from None
    modes = list(env.metadata.get("render_modes") or [])
    if "rgb_array" not in modes:
        env.close()
        raise VideoError(
            f"{env_id} cannot render rgb_array frames (its render modes: {', '.join(modes) or 'none'}), so "
            "--video cannot record it. Evaluate without --video."
        )
    try:
        _check_renders(env, env_id)
        require("moviepy", "video", "--video")
    except Exception:
        env.close()
        raise
    from gymnasium.wrappers import RecordVideo

    for wrap in wrappers:
        env = wrap(env)
    return RecordVideo(
        env,
        video_folder=str(video_dir),
        name_prefix=NAME_PREFIX,
        episode_trigger=lambda episode: episode < episodes,
        disable_logger=True,
    )


def _check_renders(env: Any, env_id: str) -> None:
    """Draw one frame before anything is evaluated: a renderer that needs a missing package (pygame for
    classic control) fails here with the install line, not mid-evaluation."""
    import gymnasium

    try:
        env.reset(seed=0)
        frame = env.render()
    except gymnasium.error.DependencyNotInstalled as exc:
        raise MissingExtraError(
            f"rendering {env_id} for --video needs a package that is not installed ({exc}); install it with "
            f"`{install_hint('video')}`."
        ) from None
    if getattr(frame, "ndim", 0) != 3:
        raise VideoError(f"{env_id} rendered {type(frame).__name__}, not an image; --video cannot record it.")


def videos_of(video_dir: str | os.PathLike, episodes: int) -> list[str]:
    """The files this evaluation wrote (not older ones a longer evaluation left in the same directory)."""
    paths = (Path(video_dir) / f"{NAME_PREFIX}-episode-{i}.mp4" for i in range(episodes))
    return [str(p) for p in paths if p.is_file()]
