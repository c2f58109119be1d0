"""`shipper setup elasticsearch` must not say "installed" for a template the server did not take. Every
Elasticsearch and OpenSearch answers a stored template `{"acknowledged": true}`; a proxy's HTML welcome
page with 200, or `{"acknowledged": false}`, stores nothing, and setup must fail (exit 1) naming it."""
from __future__ import annotations

import subprocess

import pytest

from tests.hostile_es import SHIPPER, HostileES, config


@pytest.mark.parametrize("answer", [(200, {"Content-Type": "text/html"}, b"<html>Welcome to nginx!</html>"),
                                    (200, {}, b'{"acknowledged": false}')], ids=["proxy_html_200", "not_acknowledged"])
def test_setup_fails_when_a_template_is_not_acknowledged(tmp_path, answer):
    es = HostileES()

    def do_PUT(self):
        self._read()
        self._reply(*answer)

    es.httpd.RequestHandlerClass.do_PUT = do_PUT
    try:
        r = subprocess.run([SHIPPER, "setup", "elasticsearch", "-c", str(config(tmp_path, [es.url]))],
                           capture_output=True, text=True, timeout=60)
    finally:
        es.stop()
    assert r.returncode == 1, r.stdout
    assert "installed /_index_template/" not in r.stdout
    assert "acknowledged" in r.stderr, r.stderr
