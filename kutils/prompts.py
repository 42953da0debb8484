"""`ask_to_proceed_with_overwrite`: Keras 2.2.4's yes/no prompt before overwriting a file."""

from __future__ import annotations

import os

__all__ = ["ask_to_proceed_with_overwrite"]


def _ask(prompt: str) -> str | None:
    try:
        return input(prompt).strip().lower()
    except EOFError:
        return None


def ask_to_proceed_with_overwrite(filepath: str | os.PathLike[str]) -> bool:
    """Produces a prompt asking about overwriting a file.

    Asks `[WARNING] <filepath> already exists - overwrite? [y/n]` on standard
    input and repeats `Enter "y" (overwrite) or "n" (cancel).` until the answer
    is `y` or `n` (case and surrounding spaces ignored), as Keras 2.2.4 did.
    Beyond 2.2.4: when standard input is closed (end of file, e.g. a batch job),
    the answer is "no" instead of an `EOFError`, so nothing is overwritten.

    Args:
        filepath: the path to the file to be overwritten.

    Returns:
        True if we can proceed with overwrite, False otherwise.

    Example:

    ```python
    if not os.path.exists(path) or ask_to_proceed_with_overwrite(path):
        model.save(path)
    ```
    """
    answer = _ask(f"[WARNING] {os.fspath(filepath)} already exists - overwrite? [y/n]")
    while answer not in ("y", "n", None):
        answer = _ask('Enter "y" (overwrite) or "n" (cancel).')
    if answer != "y":
        return False
    print("[TIP] Next time specify overwrite=True!")
    return True
