"""`shipper check --outputs` must say "installed" only for a template the server showed. A proxy's HTML
page answered 200, or an answer listing no such template, proves nothing is installed."""
from __future__ import annotations

import subprocess

import pytest

from tests.hostile_es import SHIPPER, HostileES, config


@pytest.mark.parametrize("answer", [(200, {"Content-Type": "text/html"}, b"<html>Welcome to nginx!</html>"),
                                    (200, {}, b'{"index_templates": []}')], ids=["proxy_html_200", "empty_list"])
def test_check_outputs_does_not_call_an_unseen_template_installed(tmp_path, answer):
    es = HostileES()
    plain_get = es.httpd.RequestHandlerClass.do_GET

    def do_GET(self):
        if self.path.startswith("/_index_template/"):
            self._reply(*answer)
        else:
            plain_get(self)

    es.httpd.RequestHandlerClass.do_GET = do_GET
    try:
        r = subprocess.run([SHIPPER, "check", "--outputs", "-c", str(config(tmp_path, [es.url]))],
                           capture_output=True, text=True, timeout=60)
    finally:
        es.stop()
    template = [l for l in r.stdout.splitlines() if l.strip().startswith("template:")]
    assert template and "installed" not in template[0], r.stdout
