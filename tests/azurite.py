"""Azurite (Microsoft's Azure Storage emulator, npm `azurite`, installed under tests/azurite/ by
scripts/install-test-deps.sh) on a free loopback port, and the official client to write to it."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from tests.support import free_port

HERE = Path(__file__).resolve().parent
BIN = HERE / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published well-known development key (not a secret: it is in Microsoft's docs).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DATABRICKS_ROOT = ("resourceId=/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/RG-TEST/"
                   "PROVIDERS/MICROSOFT.DATABRICKS/WORKSPACES/WS-TEST/")


class Azurite:
    def __init__(self, location: Path):
        if not BIN.exists():
            raise RuntimeError(f"{BIN} is missing: run scripts/install-test-deps.sh (npm ci in tests/azurite)")
        self.location = location
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/{ACCOUNT}"
        self.log = open(location / "azurite.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(location / "data"),
             "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"azurite exited: {(location / 'azurite.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("azurite did not listen within 60 s")
                time.sleep(0.1)
        self.client = BlobServiceClient(self.url, credential={"account_name": ACCOUNT, "account_key": KEY})

    def container(self, name: str):
        cc = self.client.get_container_client(name)
        if not cc.exists():
            cc.create_container()
        return cc

    def append(self, container: str, name: str, data: bytes) -> None:
        """Append to an append blob (created if missing), as Azure Monitor does, in blocks of at most 4 MiB."""
        bc = self.container(container).get_blob_client(name)
        if not bc.exists():
            bc.create_append_blob()
        for i in range(0, len(data), 4 << 20):
            bc.append_block(data[i : i + (4 << 20)])

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, 15)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    where = tmp_path_factory.mktemp("azurite")
    a = Azurite(where)
    try:
        yield a
    finally:
        a.stop()
        shutil.rmtree(where, ignore_errors=True)


def hour_blob(root: str, y: int, mo: int, d: int, h: int) -> str:
    return f"{root}y={y:04d}/m={mo:02d}/d={d:02d}/h={h:02d}/m=00/PT1H.json"
