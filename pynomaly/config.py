"""Where ``pynomaly login`` keeps the server URL and token: a user-only JSON file.

Location, first match wins: ``$PYNOMALY_CONFIG`` (a file path), then
``$XDG_CONFIG_HOME/pynomaly/config.json``, then ``~/.config/pynomaly/config.json``.
The folder is created 0700 and the file written 0600, atomically (a temporary file in
the same folder, then a rename), so a crash never leaves half a token behind and no
other local user can read it. ``PYNOMALY_URL`` + ``PYNOMALY_TOKEN`` in the environment
take the place of the file (for CI jobs).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TypeAlias

# Where a caller may point instead of the default location.
PathArg: TypeAlias = str | os.PathLike[str] | None

ENV_FILE = "PYNOMALY_CONFIG"


def config_path() -> Path:
    explicit = os.environ.get(ENV_FILE)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "pynomaly" / "config.json"


def load_login(path: PathArg = None) -> dict[str, str] | None:
    """``{"url", "token"}`` from the environment or the file; None when not logged in."""
    if path is None and os.environ.get("PYNOMALY_URL") and os.environ.get("PYNOMALY_TOKEN"):
        return {"url": os.environ["PYNOMALY_URL"], "token": os.environ["PYNOMALY_TOKEN"]}
    target = Path(path) if path is not None else config_path()
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {target}: {exc}") from None
    if not isinstance(data, dict) or not data.get("url") or not data.get("token"):
        return None
    return {"url": str(data["url"]), "token": str(data["token"])}


def is_private(path: PathArg = None) -> bool:
    """False when group or others may read the file (a token there is exposed)."""
    target = Path(path) if path is not None else config_path()
    try:
        mode = target.stat().st_mode
    except OSError:
        return True
    return not mode & (stat.S_IRWXG | stat.S_IRWXO)


def save_login(url: str, token: str, path: PathArg = None) -> Path:
    """Write the login with mode 0600 in a 0700 folder; return the file's path."""
    target = Path(path) if path is not None else config_path()
    folder = target.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
    data = json.dumps({"url": url, "token": token}, indent=2) + "\n"
    tmp = folder / f".{target.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # in case tmp existed with wider permissions
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def delete_login(path: PathArg = None) -> bool:
    """Remove the saved login; False when there was none."""
    target = Path(path) if path is not None else config_path()
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    return True
