"""Start the server: check the address and key first, then load the model, then run uvicorn.

Safety rule: a server that answers anyone who can reach it must not be opened by accident. So it
binds 127.0.0.1 by default and refuses any non-loopback address unless an API key is configured
(`--api-key-env NAME` names the environment variable that holds it; the key itself never goes on
the command line, where `ps` and shell history would show it, and is never printed or logged).
The checks run before the model loads, so a mistake costs a second, not a model load.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

from seedtune.errors import ConfigError, SeedtuneError
from seedtune.serve.limits import ServeLimits


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost' — addresses only this machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to a public interface
        return False


def api_key_from_env(name: str | None) -> str | None:
    """The key held by environment variable `name` (None when no name is given)."""
    if not name:
        return None
    from seedtune.config import env_var_name

    name = env_var_name(name, "api_key_env")
    key = os.environ.get(name, "").strip()
    if not key:
        raise ConfigError(f"--api-key-env names {name!r}, but that environment variable is empty or not set",
                          key="api_key_env", hint=f"export {name}=<a long random secret> and start the server again")
    return key


def check_bind(host: str, api_key: str | None) -> None:
    if api_key is None and not is_loopback(host):
        raise ConfigError(f"refusing to listen on {host!r} without an API key: anyone who can reach this "
                          "machine could use the model", key="host",
                          hint="keep the default --host 127.0.0.1, or set a key: export SEEDTUNE_API_KEY=<secret> "
                               "and add --api-key-env SEEDTUNE_API_KEY (clients then send 'Authorization: Bearer <secret>')")


def check_port_free(host: str, port: int) -> None:
    """Fail before the model load when the port is taken (uvicorn would only say so afterwards)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise SeedtuneError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                                hint=f"pick another port with --port (e.g. --port {port + 1}) or stop what uses it") from exc


def served_name(model: str) -> str:
    """The model id clients send: an embedded default's name, or a directory's last component."""
    path = Path(model)
    return path.resolve().name if path.exists() else model


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, api_key_env: str | None = None,
          max_batch: int = 8, batch_window_ms: float = 25.0, name: str | None = None, dtype: str | None = None,
          log_level: str = "info", limits: ServeLimits | None = None) -> None:
    """Serve `model` (a directory or an embedded default name) until interrupted."""
    import uvicorn

    from seedtune.serve.app import create_app
    from seedtune.teachers.transformers import HFTeacher

    if max_batch < 1:
        raise ConfigError(f"--max-batch must be at least 1, got {max_batch}", key="max_batch")
    if batch_window_ms < 0:
        raise ConfigError(f"--batch-window-ms must not be negative, got {batch_window_ms}", key="batch_window_ms")
    key = api_key_from_env(api_key_env)
    check_bind(host, key)
    check_port_free(host, port)
    teacher = HFTeacher(model, batch_size=max_batch, dtype=dtype)
    model_id = name or served_name(model)
    app = create_app(teacher, model_id, api_key=key, max_batch=max_batch, batch_window_ms=batch_window_ms,
                     aliases=[model], limits=limits)
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {model_id!r} ({type(teacher.prompt_format).__name__}) at http://{shown}:{port}/v1"
          f"{' (API key required)' if key else ''}; Ctrl-C stops", flush=True)
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level=log_level)
