"""`make image-test`: build the image and prove it against a throwaway PostgreSQL.

Builds with docker (when its daemon answers) or podman, then: `energy-api migrate` and
`ensure-admin` in the image, the server started, /health/ready, a login, a write, the metrics
port, the non-root user, pip and setuptools absent, and a SIGTERM that ends the container
within the shutdown grace. Prints each step and the image size; exits 1 on the first failure.

With podman on a host without a daemon, cgroup v2 or CAP_SYS_RESOURCE, the flags that work are
the ones in `../shared/container/README.md`: build with `--isolation chroot`, run with
`--runtime runc` and explicit ulimits, and reach the host's loopback at 10.0.2.2 through
slirp4netns.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.throwaway import cluster, find_binary, free_port  # noqa: E402

IMAGE = "energy-api:image-test"
CONTAINER = "energy-api-image-test"
SECRET = "image-test-secret-key-that-is-long-enough-0123456789"
ADMIN_PASSWORD = "Image-test pass phrase 42"
GRACE_SECONDS = 5


def engine() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0
    ):
        return [docker]
    podman = shutil.which("podman")
    if podman:
        return [podman]
    sys.exit("image-test: neither a docker daemon nor podman is available")


def step(message: str) -> None:
    print(f"image-test: {message}", flush=True)


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        sys.exit(f"image-test: FAILED: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result


def http(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            raw = response.read()
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def check(condition: bool, message: str) -> None:
    if not condition:
        sys.exit(f"image-test: FAILED: {message}")
    step(f"ok: {message}")


def main() -> None:
    if find_binary("initdb") is None or find_binary("pg_ctl") is None:
        sys.exit("image-test: PostgreSQL's initdb and pg_ctl are needed for the throwaway database")
    tool = engine()
    podman = Path(tool[0]).name == "podman"
    build = [*tool, "build", "-t", IMAGE, "."]
    if podman:
        build[2:2] = [
            "--pull=never",
            "--network",
            "host",
            "--isolation",
            "chroot",
            "--format",
            "docker",
        ]
    step(f"building with {' '.join(build)}")
    started = time.monotonic()
    run(build, cwd=ROOT)
    size = run([*tool, "image", "inspect", IMAGE, "--format", "{{.Size}}"]).stdout.strip()
    step(f"built in {time.monotonic() - started:.0f} s, {int(size) / 1e6:.0f} MB")

    runtime = [*tool, "--runtime", "runc"] if podman else tool
    limits = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"] if podman else []
    with cluster() as database:

        async def create() -> None:
            import asyncpg

            connection = await asyncpg.connect(database.dsn())
            try:
                await connection.execute('CREATE DATABASE "energy"')
            finally:
                await connection.close()

        asyncio.run(create())
        if podman:
            network = ["--network", "slirp4netns:allow_host_loopback=true"]
            host = "10.0.2.2"
        else:
            # Docker: the host's network, where the throwaway cluster listens on 127.0.0.1.
            network = ["--network", "host"]
            host = "127.0.0.1"
        url = f"postgresql+asyncpg://postgres@{host}:{database.port}/energy"
        env = ["-e", f"DATABASE_URL={url}", "-e", f"SECRET_KEY={SECRET}"]
        base = [*runtime, "run", "--rm", *limits, *network, *env]

        step("energy-api migrate")
        run([*base, IMAGE, "energy-api", "migrate"])
        run([*base, "-e", f"ADMIN_PASSWORD={ADMIN_PASSWORD}", IMAGE, "energy-api", "ensure-admin"])

        if podman:
            api, metrics = free_port(), free_port()
            ports = ["-p", f"127.0.0.1:{api}:8000", "-p", f"127.0.0.1:{metrics}:9100"]
        else:  # the host's network: the image's own ports
            api, metrics, ports = 8000, 9100, []
        subprocess.run([*tool, "rm", "-f", CONTAINER], capture_output=True, check=False)
        grace = ["-e", f"SHUTDOWN_GRACE_SECONDS={GRACE_SECONDS}"]
        run(
            [
                *runtime,
                "run",
                "-d",
                "--name",
                CONTAINER,
                *limits,
                *network,
                *env,
                *grace,
                *ports,
                IMAGE,
            ]
        )
        try:
            base_url = f"http://127.0.0.1:{api}"
            deadline = time.monotonic() + 60
            status: int = 0
            while time.monotonic() < deadline:
                try:
                    status, body = http("GET", f"{base_url}/health/ready")
                except OSError:
                    status = 0
                if status == 200:
                    break
                time.sleep(0.5)
            check(status == 200, f"/health/ready answers 200: {body if status else 'no answer'}")
            status, tokens = http(
                "POST", f"{base_url}/api/token/", {"username": "admin", "password": ADMIN_PASSWORD}
            )
            check(status == 200 and "access" in tokens, "admin logs in")
            status, created = http(
                "POST",
                f"{base_url}/api/v1/clientes/",
                {"nome": "Cliente da Imagem", "documento": "529.982.247-25"},
                tokens["access"],
            )
            check(status == 201, f"a client is written: {created}")
            status, read = http(
                "GET", f"{base_url}/api/v1/clientes/{created['id']}/", token=tokens["access"]
            )
            check(status == 200 and read["nome"] == "Cliente da Imagem", "and read back")
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as r:
                text = r.read().decode()
            check("energy_api_http_requests_total" in text, "metrics served on port 9100")
            uid = run([*tool, "exec", CONTAINER, "id", "-u"]).stdout.strip()
            check(uid == "10001", f"runs as uid {uid}, not root")
            probe = subprocess.run(
                [*tool, "exec", CONTAINER, "python", "-c", "import pip"],
                capture_output=True,
                check=False,
            )
            setuptools = subprocess.run(
                [*tool, "exec", CONTAINER, "python", "-c", "import setuptools"],
                capture_output=True,
                check=False,
            )
            check(
                probe.returncode != 0 and setuptools.returncode != 0,
                "no pip or setuptools in the venv",
            )
            logs = run([*tool, "logs", CONTAINER]).stdout + run([*tool, "logs", CONTAINER]).stderr
            lines = [line for line in logs.splitlines() if line.startswith("{")]
            check(
                bool(lines) and all(json.loads(line)["time"] for line in lines),
                "logs are JSON lines",
            )
            check(
                ADMIN_PASSWORD not in logs and tokens["access"] not in logs, "no secret in the logs"
            )
            if podman:
                health = subprocess.run(
                    [*tool, "healthcheck", "run", CONTAINER],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                check(health.returncode == 0, "the image's HEALTHCHECK (liveness) passes")

            step("SIGTERM")
            stopped = time.monotonic()
            run([*tool, "kill", "--signal", "TERM", CONTAINER])
            code = run([*tool, "wait", CONTAINER]).stdout.strip()
            elapsed = time.monotonic() - stopped
            check(
                code == "0" and elapsed < GRACE_SECONDS + 5,
                f"stopped on SIGTERM in {elapsed:.1f} s with exit code {code}",
            )
        finally:
            subprocess.run([*tool, "rm", "-f", CONTAINER], capture_output=True, check=False)
    step(f"passed; image {IMAGE} is {int(size) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
