"""The Docker engine adapter (Docker SDK for Python): the local engine, or the one DOCKER_HOST names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

from scripts.deploy.errors import DeployError
from scripts.deploy.ports import LogFn, RegistryAuth
from scripts.exit_codes import ExitCode


class DockerEngine:
    def __init__(self) -> None:
        self._client: docker.DockerClient | None = None

    def _api(self) -> Any:
        if self._client is None:
            try:
                # from_env negotiates the API version, so an unreachable engine fails here, before any work.
                self._client = docker.from_env()
            except DockerException as err:
                raise DeployError(
                    ExitCode.ENGINE_UNREACHABLE,
                    f"cannot reach a Docker engine ({err}). Start the local engine, or set DOCKER_HOST to "
                    "one that is running (e.g. unix:///var/run/docker.sock or ssh://builder).",
                ) from None
        return self._client.api

    def ping(self) -> None:
        self._api().ping()

    def build(
        self,
        context: Path,
        image: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        platform: str,
        log: LogFn,
    ) -> str:
        # The platform is the instances' (from the spec), not the engine's: an x86 CI runner building
        # for Graviton instances must say linux/arm64, or the instances get an image they cannot exec.
        chunks = self._api().build(
            path=str(context),
            tag=image,
            buildargs=dict(build_args),
            labels=dict(labels),
            platform=platform,
            rm=True,
            pull=True,
            decode=True,
        )
        image_id = ""
        for chunk in self._stream(chunks, ExitCode.BUILD_FAILED, "build"):
            if "stream" in chunk and chunk["stream"].strip():
                log(chunk["stream"].rstrip())
            image_id = chunk.get("aux", {}).get("ID", image_id)
        return image_id

    def push(self, repository: str, tag: str, auth: RegistryAuth, log: LogFn) -> None:
        auth_config = {"username": auth.username, "password": auth.password, "serveraddress": auth.registry}
        chunks = self._api().push(repository, tag=tag, auth_config=auth_config, stream=True, decode=True)
        for chunk in self._stream(chunks, ExitCode.PUSH_FAILED, "push"):
            # Per-layer byte counts would flood a CI log; layer completions and the digest are what matter.
            if chunk.get("status") in {"Pushed", "Layer already exists"} or "aux" in chunk:
                log(f"{chunk.get('id', '')} {chunk.get('status', '')} {chunk.get('aux', '')}".strip())

    @staticmethod
    def _stream(chunks: Iterable[dict[str, Any]], code: ExitCode, what: str) -> Iterable[dict[str, Any]]:
        """The engine reports failures inside the stream, not as an exception: surface them as one."""
        try:
            for chunk in chunks:
                if "error" in chunk:
                    raise DeployError(code, f"docker {what} failed: {chunk['error'].strip()}")
                yield chunk
        except DockerException as err:
            raise DeployError(code, f"docker {what} failed: {err}") from None
