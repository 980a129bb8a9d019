"""Progress through the named steps of a training, promotion or evaluation run."""

from __future__ import annotations

from collections.abc import Callable


class Steps:
    """Progress through the named steps of a run: a tqdm bar, or messages to ``say``."""

    def __init__(self, enabled: bool, say: Callable[[str], None] | None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=None, bar_format="{desc} [{elapsed}]", disable=not enabled)
        self.say = say

    def __call__(self, message: str) -> None:
        self.bar.set_description_str(message)
        if self.say:
            self.say(message)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *_exc: object) -> None:
        # Closed on errors too, so a user error is not printed after a half-drawn bar.
        self.close()
